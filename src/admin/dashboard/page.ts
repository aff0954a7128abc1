/** The dashboard's HTML: a frame the script fills (dashboard/script.ts). */
export function pageHtml(tokenRequired: boolean): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fulcrum</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body data-token-required="${tokenRequired}">
<header>
  <h1>Fulcrum</h1>
  <span id="about"></span>
  <span id="live" class="live" title="updated once a second">connecting…</span>
  <form id="token-form" class="token" ${tokenRequired ? '' : 'hidden'}>
    <label>Access token <input id="token" type="password" autocomplete="off" placeholder="needed to change state"></label>
  </form>
</header>
<main>
  <section class="cards">
    <div class="card"><h2>Requests/s</h2><div class="value" id="rps">–</div><svg class="chart" id="chart-rps" viewBox="0 0 240 48" preserveAspectRatio="none"></svg></div>
    <div class="card"><h2>Error rate</h2><div class="value" id="errors">–</div><div class="note" id="errors-note"></div><svg class="chart" id="chart-errors" viewBox="0 0 240 48" preserveAspectRatio="none"></svg></div>
    <div class="card"><h2>Latency p50 / p99</h2><div class="value" id="latency">–</div><div class="note" id="latency-note"></div><svg class="chart" id="chart-latency" viewBox="0 0 240 48" preserveAspectRatio="none"></svg></div>
    <div class="card"><h2>Active connections</h2><div class="value" id="active">–</div><svg class="chart" id="chart-active" viewBox="0 0 240 48" preserveAspectRatio="none"></svg></div>
  </section>
  <p id="message" class="message" role="status" aria-live="polite"></p>
  <section><h2>Listeners</h2><table id="listeners"></table></section>
  <section id="pools"></section>
  <section id="dns" hidden><h2>DNS answers</h2><table></table></section>
  <section id="dataplane" hidden><h2>Kernel data plane</h2><table></table></section>
  <section id="vrrp" hidden><h2>VRRP</h2><table></table></section>
  <section id="bgp" hidden><h2>BGP</h2><table id="bgp-sessions"></table><table id="bgp-routes" class="spaced"></table></section>
  <section><h2>Processes</h2><table id="workers"></table></section>
</main>
</body>
</html>
`;
}
