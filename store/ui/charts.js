// Draw a canned query's curve on arrival. datasette-vega takes its chart settings from the page URL's fragment;
// CHARTS (written above this line when the store is served, from store/datasette.yaml) maps a query to them.
(function () {
  const query = decodeURIComponent(location.pathname.split("/").pop());
  if (CHARTS[query] && location.search && !location.hash) {
    history.replaceState(null, "", location.pathname + location.search + "#" + CHARTS[query]);
  }
})();
