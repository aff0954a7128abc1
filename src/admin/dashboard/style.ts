/** The dashboard's style sheet: plain, readable, light and dark. */
export const STYLE = `
:root { --bg: #f6f7f9; --fg: #1d2430; --muted: #667085; --card: #fff; --line: #e3e6ea; --ok: #12805c; --bad: #c4320a; --warn: #b54708; --accent: #2563eb; --p99: #9333ea; }
@media (prefers-color-scheme: dark) { :root { --bg: #12151a; --fg: #e6e8eb; --muted: #98a2b3; --card: #1b1f26; --line: #2c323c; --ok: #32d583; --bad: #f97066; --warn: #fdb022; --accent: #60a5fa; --p99: #c084fc; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: var(--card); border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
#about { color: var(--muted); }
.live { margin-left: auto; color: var(--muted); font-size: 12px; }
.live.ok::before { content: "●"; color: var(--ok); margin-right: 4px; }
.live.stale::before { content: "●"; color: var(--bad); margin-right: 4px; }
.token input { margin-left: 6px; padding: 3px 6px; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
.token.needed input { border-color: var(--bad); }
main { padding: 16px 20px; max-width: 1400px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 18px 0 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card h2 { margin: 0; }
.card .value { font-size: 22px; font-variant-numeric: tabular-nums; margin: 2px 0 4px; }
.card .note { color: var(--muted); font-size: 12px; margin-top: -4px; min-height: 0; }
.chart { width: 100%; height: 48px; display: block; }
.chart polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.chart polyline.p99 { stroke: var(--p99); }
.chart polyline.bad { stroke: var(--bad); }
.chart polygon.area, .spark polygon.area { fill: var(--accent); opacity: .12; stroke: none; }
.chart polygon.area.bad { fill: var(--bad); }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.reason { color: var(--muted); min-width: 120px; max-width: 320px; }
tr.out td { background: color-mix(in srgb, var(--warn) 6%, transparent); }
.pool-head { display: flex; align-items: baseline; gap: 10px; }
.pool-head .sub { color: var(--muted); font-size: 12px; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; }
.badge.up { color: var(--ok); }
.badge.down { color: var(--bad); }
.badge.drain, .badge.maint { color: var(--warn); }
.badge.override { color: var(--accent); font-weight: 400; }
td.checks { white-space: nowrap; }
.history { display: inline-flex; gap: 2px; vertical-align: middle; }
.history i { width: 6px; height: 14px; border-radius: 2px; background: var(--ok); display: inline-block; }
.history i.fail { background: var(--bad); }
.spark { width: 72px; height: 20px; vertical-align: middle; margin-left: 8px; }
.scroll { overflow-x: auto; }
.small { font-size: 12px; }
.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.2; vector-effect: non-scaling-stroke; }
button { font: inherit; font-size: 12px; padding: 2px 7px; border-radius: 4px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); cursor: pointer; }
button:hover { border-color: var(--accent); }
button[disabled] { opacity: .45; cursor: default; }
.actions { white-space: nowrap; display: flex; gap: 4px; }
.message { min-height: 1.4em; margin: 10px 0 0; color: var(--muted); }
.message.error { color: var(--bad); }
.muted { color: var(--muted); }
table.spaced { margin-top: 8px; }
`;
