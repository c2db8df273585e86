/** The one stylesheet of the web admin and the account pages (no build step, no JavaScript). */
export const STYLESHEET = `
:root { --fg: #1d232b; --muted: #5d6875; --line: #d8dde3; --bg: #f6f7f9; --accent: #1f5fa8; --ok: #1e7b3c; --bad: #b3261e; --warn: #946200; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.5rem; background: #fff; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
.brand { font-weight: 600; }
nav { display: flex; gap: .2rem; flex-wrap: wrap; flex: 1; }
nav a { padding: .3rem .6rem; border-radius: 4px; color: var(--fg); text-decoration: none; }
nav a:hover { background: var(--bg); }
nav a[aria-current="page"] { background: var(--accent); color: #fff; }
.who { display: flex; gap: .6rem; align-items: center; color: var(--muted); }
main { max-width: 72rem; margin: 1.5rem auto; padding: 0 1.5rem; }
h1 { font-size: 1.4rem; margin: 0 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.8rem 0 .6rem; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); margin-bottom: 1rem; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: break-word; }
td code { overflow-wrap: anywhere; }
th { background: #eef1f4; font-weight: 600; font-size: .9rem; }
td.num, th.num { text-align: right; }
td.nowrap { white-space: nowrap; }
table.facts { width: auto; min-width: 32rem; }
table.facts th { background: none; width: 11rem; }
pre, code { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
pre { background: #fff; border: 1px solid var(--line); padding: .6rem; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
form { margin: 0 0 1rem; }
form.inline { display: inline; margin: 0; }
fieldset { border: 1px solid var(--line); background: #fff; padding: .8rem 1rem; margin: 0 0 1rem; }
legend { font-weight: 600; padding: 0 .3rem; }
label { display: inline-flex; flex-direction: column; gap: .15rem; margin: 0 .8rem .5rem 0; font-size: .9rem; color: var(--muted); }
label, button { vertical-align: bottom; }
label.check { flex-direction: row; align-items: center; gap: .35rem; }
textarea { min-width: min(36rem, 100%); }
input[type=text], input[type=password], input[type=email], input[type=number], select, textarea { font: inherit; padding: .35rem .5rem; border: 1px solid #b9c1ca; border-radius: 4px; min-width: 14rem; color: var(--fg); }
button { font: inherit; margin: 0 0 .5rem; padding: .35rem .9rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; }
td button { font-size: .85rem; padding: .1rem .5rem; margin: 0 0 .2rem .3rem; vertical-align: baseline; }
button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
button.link { background: none; border: none; color: var(--accent); margin: 0; padding: 0; text-decoration: underline; }
.flash { padding: .6rem .9rem; border-radius: 4px; border: 1px solid; }
.flash.ok { background: #e8f5ec; border-color: #9fd3b0; color: var(--ok); }
.flash.error { background: #fbeaea; border-color: #e3a5a1; color: var(--bad); }
.status-ok { color: var(--ok); font-weight: 600; }
.status-bad { color: var(--bad); font-weight: 600; }
.status-warn { color: var(--warn); font-weight: 600; }
.muted, .empty { color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: .8rem; margin-bottom: 1rem; }
a.card { color: inherit; text-decoration: none; }
a.card:hover { border-color: var(--accent); }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; }
.card .value { font-size: 1.5rem; font-weight: 600; }
.card .label { color: var(--muted); font-size: .9rem; }
.login { max-width: 24rem; margin: 4rem auto; }
.login label { display: flex; margin-right: 0; }
.login input { width: 100%; }
`;
