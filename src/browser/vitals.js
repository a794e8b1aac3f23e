// Web Vitals, measured in the page by smokeprobe: added with
// Page.addScriptToEvaluateOnNewDocument, so it runs before the page's own
// scripts in every document. `window.__smokeprobeVitals()` returns them in
// milliseconds (CLS unitless); a metric the page never produced is null.
(() => {
  if (window.__smokeprobeVitals) return;
  let fcp = null, lcp = null, cls = 0, session = 0, first = 0, last = 0;
  const tasks = [];
  const observe = (type, each) => {
    try {
      new PerformanceObserver((list) => list.getEntries().forEach(each))
        .observe({ type, buffered: true });
    } catch (e) { /* an entry type this browser lacks */ }
  };
  observe('paint', (e) => { if (e.name === 'first-contentful-paint') fcp = e.startTime; });
  observe('largest-contentful-paint', (e) => { lcp = e.startTime; });
  // CLS: the largest session window (shifts < 1 s apart, window < 5 s).
  observe('layout-shift', (e) => {
    if (e.hadRecentInput) return;
    if (session > 0 && e.startTime - last < 1000 && e.startTime - first < 5000) {
      session += e.value;
    } else {
      session = e.value;
      first = e.startTime;
    }
    last = e.startTime;
    if (session > cls) cls = session;
  });
  observe('longtask', (e) => { if (tasks.length < 1000) tasks.push([e.startTime, e.duration]); });
  Object.defineProperty(window, '__smokeprobeVitals', {
    value: () => {
      const nav = performance.getEntriesByType('navigation')[0];
      const ttfb = nav && nav.responseStart > 0 ? nav.responseStart : null;
      let tbt = null;
      if (fcp !== null) {
        tbt = 0;
        for (const [start, duration] of tasks) {
          if (start >= fcp) tbt += Math.max(0, duration - 50);
        }
      }
      return { ttfb, fcp, lcp, cls, tbt };
    },
  });
})();
