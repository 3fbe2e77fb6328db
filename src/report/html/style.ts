/** The HTML report's style sheet (inline in the page: nothing is fetched). */
export const PAGE_STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #24292f; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th:nth-child(2), td:nth-child(2), td.text, th:last-child { text-align: left; }
.verdict { font-weight: 600; }
.ok { color: #1a7f37; } .bad { color: #cf222e; } .warn { color: #9a6700; } .info { color: #57606a; }
.finding { border-left: 4px solid #d0d7de; padding: 0 0 0 1em; margin: 1em 0; }
.finding.error { border-color: #cf222e; } .finding.warning { border-color: #d4a72c; }
.finding table td, .finding table th { text-align: left; vertical-align: top; }
section { margin-bottom: 2.5em; }
.cards { display: flex; flex-wrap: wrap; gap: .6em; margin: .8em 0; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: .4em .9em; min-width: 8em; color: #57606a; }
.card .value { font-size: 1.4em; font-weight: 600; color: #24292f; }
.legend { font-size: 12px; color: #57606a; }
.key { display: inline-block; width: 12px; height: 10px; margin: 0 3px 0 8px; vertical-align: middle; }
.key.syn { background: #1a7f37; } .key.bar { background: #0969da; }
.key.fin-c { background: #0969da; width: 2px; } .key.fin-s { background: #8250df; width: 2px; }
.key.rst { color: #cf222e; width: auto; height: auto; font-weight: 700; }
.key.gap-ok { background: #2da44e; height: 3px; } .key.gap-near { background: #d4a72c; height: 3px; }
.key.gap-over { background: #cf222e; height: 3px; } .key.tw { border-top: 2px dashed #afb8c1; height: 0; }
.key.mark { background: #bf8700; transform: rotate(45deg); width: 8px; height: 8px; }
.timeline { border: 1px solid #d0d7de; width: 100%; }
#kal-timeline { display: block; cursor: grab; }
#kal-tooltip { position: absolute; z-index: 10; background: #24292f; color: #fff; padding: 6px 8px;
  border-radius: 4px; font: 12px/1.35 ui-monospace, monospace; white-space: pre; pointer-events: none;
  max-width: 60em; overflow: hidden; }
.conn-table { border: 1px solid #d0d7de; font-size: 12px; }
.conn-table .row { display: grid; height: 22px; line-height: 22px; border-bottom: 1px solid #eaeef2; cursor: pointer; }
.conn-table .row > div { padding: 0 6px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.conn-table .row:hover { background: #f6f8fa; }
.conn-table .head { font-weight: 600; background: #f6f8fa; user-select: none; }
.conn-table .head > div[aria-sort="ascending"]::after { content: " \\25B2"; }
.conn-table .head > div[aria-sort="descending"]::after { content: " \\25BC"; }
.conn-table .num { text-align: right; }
#kal-table-scroll { height: 400px; overflow-y: auto; position: relative; }
#kal-table-spacer { width: 1px; }
#kal-table-body { position: absolute; top: 0; left: 0; right: 0; }
`;
