/* The runs overview (/): the runs table, its selection's actions and parallel coordinates. */
import "../tailboard.js";
import "../hidden.js";
import "../table/index.js";
import "../table/actions.js";
import "../pcoords/overview.js";
import "../table/scroll.js";
