/* The runs overview (/): the runs table. */
import "../tailboard.js";
import "../table/index.js";
import "../table/scroll.js";
