/* A media tag's items as the slider sees them. A tag ships its items as JSON ([step, path,
   caption, type] rows per run) and the view draws one step by swapping src: 5,000 images are
   5,000 array rows, not 5,000 <img>. Slider positions are the distinct steps of every row (items
   without a step come first); each row shows its items at the largest step <= the chosen one. */

// an item of a `media` event or of the page's JSON, as the views hold it
export function item(step, url, caption, type) {
  return { step: step === undefined ? null : step, url, caption: caption || "", type: type || "image" };
}

function byStep(a, b) {            // stable: no step first, then by step
  if (a.step === null || b.step === null) return (a.step === null ? 0 : 1) - (b.step === null ? 0 : 1);
  return a.step - b.step;
}

export function indexRun(run) {
  run.items.sort(byStep);
  run.steps = []; run.at = new Map(); run.nulls = []; run.urls = new Set();
  run.items.forEach((it) => {
    run.urls.add(it.url);
    if (it.step === null) { run.nulls.push(it); return; }
    let list = run.at.get(it.step);
    if (!list) { list = []; run.at.set(it.step, list); run.steps.push(it.step); }
    list.push(it);
  });
}

export function positionsOf(view) {
  const steps = new Set();
  let nulls = 0;
  view.runs.forEach((r) => { r.steps.forEach((s) => steps.add(s)); nulls = Math.max(nulls, r.nulls.length); });
  const out = [];
  for (let k = 0; k < nulls; k++) out.push({ step: null, k });
  Array.from(steps).sort((a, b) => a - b).forEach((step) => out.push({ step }));
  return out;
}

export function itemsAt(run, pos) {       // {step, items} a row shows at a position, or null
  if (pos.step === null) return run.nulls[pos.k] ? { step: null, items: [run.nulls[pos.k]] } : null;
  let lo = 0, hi = run.steps.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (run.steps[mid] <= pos.step) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found < 0 ? null : { step: run.steps[found], items: run.at.get(run.steps[found]) };
}

export function posOf(run, it) { return it.step === null ? { step: null, k: run.nulls.indexOf(it) } : { step: it.step }; }

export function findPos(view, target) {   // the last position at or before target
  const le = (a, b) => (a.step === null ? b.step !== null || a.k <= b.k : b.step !== null && a.step <= b.step);
  let idx = 0;
  view.positions.forEach((p, i) => { if (le(p, target)) idx = i; });
  return idx;
}

