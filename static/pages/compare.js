/* The compare page (/compare): overlaid charts, the table, the scatter. */
import { expose } from "../tailboard.js";
import { live, views } from "../charts/index.js";
import { plots } from "../compare.js";

expose({ charts: live, chartViews: views, comparePlots: plots });
