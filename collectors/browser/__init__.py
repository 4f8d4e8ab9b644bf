"""Frontend measurements from a real browser: headless Chromium over the DevTools protocol.

chromium (start and always stop the browser process group), cdp (the protocol connection),
network (DevTools network events -> one record per request; type, compression, cacheability),
vitals (Web Vitals from the page's own PerformanceObservers), pageload (one cold or warm page
load, with a timeout), series (page loads -> Samples and histograms; the series catalogue),
collector (loads pages in the background of a `castiel run`). docs/frontend.md has the guide.

Nothing here imports loadtest or castiel; only `cdp` and `chromium` need the `websockets`
client and the `chromium` binary, so the series names can be imported anywhere."""
