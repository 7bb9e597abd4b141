#include "services/web/assets.h"

namespace camfleet::web {
namespace {

constexpr absl::string_view kStyle = R"css(
:root { --ink: #1d232b; --muted: #5b6673; --line: #d5dbe1; --bg: #f6f7f9; --accent: #1f5fa8;
        --bad: #a61b1b; --warn: #8a5a00; --ok: #1c6b3a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, "DejaVu Sans", sans-serif; color: var(--ink);
       background: var(--bg); }
header { display: flex; align-items: center; gap: 1.5em; padding: .6em 1.2em; background: #18324f;
         color: #fff; }
header a { color: #fff; text-decoration: none; margin-right: 1em; }
header a.current { border-bottom: 2px solid #fff; }
header .brand { font-weight: 700; letter-spacing: .04em; }
header .who { margin-left: auto; color: #cfd9e4; }
header form { margin: 0; }
main { padding: 1em 1.2em 3em; max-width: 1300px; }
h1 { font-size: 1.4em; margin: .2em 0 .6em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .5em; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { background: #eef1f4; font-weight: 600; white-space: nowrap; }
tr:hover td { background: #f9fbfd; }
a { color: var(--accent); }
.muted { color: var(--muted); }
.state { font-weight: 600; font-size: .85em; padding: .1em .45em; border-radius: 3px;
         background: #e7ebef; white-space: nowrap; }
.state-AVAILABLE { background: #dcefe2; color: var(--ok); }
.state-ISSUED { background: #dde8f6; color: var(--accent); }
.state-LOST, .state-RETIRED { background: #f6dede; color: var(--bad); }
.state-FAULTY { background: #f7ecd5; color: var(--warn); }
.filters { display: flex; flex-wrap: wrap; gap: .6em; align-items: end; margin-bottom: 1em;
           background: #fff; border: 1px solid var(--line); padding: .7em; }
.filters label, .action label { display: flex; flex-direction: column; font-size: .85em;
                                 color: var(--muted); }
input, select, button { font: inherit; padding: .25em .4em; }
button { background: var(--accent); color: #fff; border: 0; border-radius: 3px;
         padding: .35em .9em; cursor: pointer; }
button.danger { background: var(--bad); }
button.plain { background: transparent; border: 1px solid #8aa0b8; color: #fff; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1em; }
.card { background: #fff; border: 1px solid var(--line); padding: .8em 1em; }
.card dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; margin: 0; }
.card dt { color: var(--muted); }
.card dd { margin: 0; }
.actions { display: flex; flex-wrap: wrap; gap: 1em; }
.action { background: #fff; border: 1px solid var(--line); padding: .7em; display: flex;
          flex-direction: column; gap: .4em; min-width: 220px; }
.error { background: #fbe9e9; border: 1px solid #e5b3b3; color: var(--bad); padding: .7em 1em; }
.notice { background: #e9f3ec; border: 1px solid #b3d9bf; padding: .7em 1em; }
.warning { background: #fbf3e2; border: 1px solid #e6cf9c; color: var(--warn); padding: .7em 1em; }
.chart { width: 100%; max-width: 720px; background: #fff; border: 1px solid var(--line); }
.chart .grid { stroke: #e3e7eb; stroke-width: 1; }
.chart .axis, .chart .legend, .chart .empty { font-size: 11px; fill: var(--muted); }
.chart .series { fill: none; stroke-width: 2; }
.chart .health { stroke: #1f5fa8; fill: #1f5fa8; }
.chart .charge { stroke: #9aa9b8; fill: #9aa9b8; }
.chart polyline.health, .chart polyline.charge { fill: none; }
.pager { margin-top: .8em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.bad { color: var(--bad); font-weight: 600; }
.rollout-RUNNING, .rollout-COMPLETED { background: #dcefe2; color: var(--ok); }
.rollout-PAUSED, .rollout-AWAITING_NEXT_WAVE { background: #f7ecd5; color: var(--warn); }
.rollout-ABORTED { background: #f6dede; color: var(--bad); }
progress { width: 8em; height: .9em; vertical-align: middle; }
#overall progress { width: 100%; height: 1.2em; }
.handover { background: #fff; border: 1px solid var(--line); padding: 1.5em 2em; max-width: 800px; }
.signature { display: grid; grid-template-columns: 1fr 1fr; gap: 3em; margin-top: 3em; }
.signature div { border-top: 1px solid var(--ink); padding-top: .3em; }
@media print {
  header, .noprint, .actions { display: none !important; }
  body { background: #fff; font-size: 12pt; }
  main { padding: 0; }
  .handover { border: 0; padding: 0; }
  a { color: inherit; text-decoration: none; }
}
)css";

// Small and optional: the page works without it (forms post, links link).
constexpr absl::string_view kScript = R"js(
"use strict";
document.addEventListener("click", (e) => {
  const t = e.target.closest("[data-print]");
  if (t) { e.preventDefault(); window.print(); }
});
)js";

constexpr Asset kAssets[] = {
    {"/assets/style.css", "text/css; charset=utf-8", kStyle},
    {"/assets/app.js", "text/javascript; charset=utf-8", kScript},
};

}  // namespace

const Asset* FindAsset(absl::string_view path) {
  for (const Asset& asset : kAssets) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace camfleet::web
