/* The compare page (/compare): overlaid charts, the table, the scatter, parallel coordinates. */
import { expose } from "../tailboard.js";
import "../hidden.js";   // before the charts: hidden runs leave their list before it is read
import { live, views } from "../charts/index.js";
import { plots } from "../compare.js";
import { mounted } from "../pcoords/index.js";

expose({ charts: live, chartViews: views, comparePlots: plots, pcoords: mounted });
