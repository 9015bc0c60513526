/* The alerts page: what every page runs (the bell), plus marking alerts seen and the
   desktop-notification switch (alerts.js). */
import "../tailboard.js";
import { markSeen, notifySwitch } from "../alerts.js";

notifySwitch();
markSeen();
