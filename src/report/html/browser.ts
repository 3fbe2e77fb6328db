/**
 * The HTML report's script, run in the browser: reads the page data (html/data.ts) from its
 * `<script type="application/json">`, draws the timeline on a canvas (only the lanes in view: 10,000
 * connections are 10,000 rows of data, never 10,000 elements), and fills the connection table with
 * only the rows in view. Text from the traffic only ever goes through textContent.
 *
 * `browserMain` is inlined into the page as its source text (report/html.ts reads this file compiled):
 * it must stay self-contained, using nothing of this module but types (erased when compiled). Compiled
 * on its own, with the DOM's types (tsconfig.browser.json): the rest of the project has none.
 */
import type { PageConnection, PageData, PageMark, PageSummary } from './page.js';

export function browserMain(): void {
  const started = performance.now();
  const LANE = 16;
  const AXIS = 22;
  const LABEL = 190;
  const MAX_HEIGHT = 560;
  const ROW = 22;
  const STATUS_COLORS: [number, string][] = [
    [500, '#cf222e'],
    [400, '#d4a72c'],
    [100, '#0969da'],
  ];
  const SEVERITY_COLORS: Record<string, string> = { error: '#cf222e', warning: '#bf8700', info: '#8250df' };

  const byId = <T extends HTMLElement>(id: string): T => {
    const el = document.getElementById(id);
    if (el === null) throw new Error(`missing #${id}`);
    return el as T;
  };
  const data = JSON.parse(byId('kal-data').textContent ?? '{}') as PageData;
  /** A connection as embedded (its values in the order of data.fields), as an object again. */
  type Packed = readonly unknown[];
  /** The reader of one field: its position found once (a literal below then gives every object one shape). */
  const field = <T>(name: keyof PageConnection) => {
    const k = data.fields.indexOf(name);
    return (v: Packed) => v[k] as T;
  };
  const F = {
    id: field<number>('id'),
    client: field<string>('client'),
    server: field<string>('server'),
    start: field<number | null>('start'),
    end: field<number | null>('end'),
    syn: field<boolean>('syn'),
    open: field<boolean>('open'),
    requests: field<number>('requests'),
    unknown: field<boolean>('unknown'),
    statuses: field<number[]>('statuses'),
    clientFin: field<number | null>('clientFin'),
    serverFin: field<number | null>('serverFin'),
    firstFin: field<PageConnection['firstFin']>('firstFin'),
    resetBy: field<PageConnection['resetBy']>('resetBy'),
    resetAt: field<number | null>('resetAt'),
    timeWait: field<PageConnection['timeWait']>('timeWait'),
    tls: field<PageConnection['tls']>('tls'),
    bytesFromClient: field<number>('bytesFromClient'),
    bytesFromServer: field<number>('bytesFromServer'),
    exchanges: field<PageConnection['exchanges']>('exchanges'),
    exchangesOmitted: field<number>('exchangesOmitted'),
    busy: field<number[]>('busy'),
    idleTimeoutMs: field<number | null>('idleTimeoutMs'),
    notes: field<string[]>('notes'),
  } satisfies Record<keyof PageConnection, unknown>;
  const unpack = (v: Packed): PageConnection => ({
    id: F.id(v),
    client: F.client(v),
    server: F.server(v),
    start: F.start(v),
    end: F.end(v),
    syn: F.syn(v),
    open: F.open(v),
    requests: F.requests(v),
    unknown: F.unknown(v),
    statuses: F.statuses(v),
    clientFin: F.clientFin(v),
    serverFin: F.serverFin(v),
    firstFin: F.firstFin(v),
    resetBy: F.resetBy(v),
    resetAt: F.resetAt(v),
    timeWait: F.timeWait(v),
    tls: F.tls(v),
    bytesFromClient: F.bytesFromClient(v),
    bytesFromServer: F.bytesFromServer(v),
    exchanges: F.exchanges(v),
    exchangesOmitted: F.exchangesOmitted(v),
    busy: F.busy(v),
    idleTimeoutMs: F.idleTimeoutMs(v),
    notes: F.notes(v),
  });

  type Row = { head: true; run: number } | { head: false; run: number; c: PageConnection; marks: PageMark[] };
  const rows: Row[] = [];
  let bars = 0;
  let markCount = 0;
  let extent = 1;
  data.runs.forEach((run, ri) => {
    const marksOf = new Map<number, PageMark[]>();
    for (const m of run.marks) {
      const list = marksOf.get(m.connection) ?? [];
      list.push(m);
      marksOf.set(m.connection, list);
    }
    rows.push({ head: true, run: ri });
    for (const packed of run.connections) {
      const c = unpack(packed);
      const marks = marksOf.get(c.id) ?? [];
      markCount += marks.length;
      rows.push({ head: false, run: ri, c, marks });
      bars += c.exchanges.length > 0 ? c.exchanges.length : c.busy.length >> 1 || 0;
      extent = Math.max(extent, c.end ?? 0, c.start ?? 0, c.clientFin ?? 0, c.serverFin ?? 0, c.resetAt ?? 0);
      const lastExchange = c.exchanges[c.exchanges.length - 1];
      if (lastExchange !== undefined) extent = Math.max(extent, lastExchange[1] ?? lastExchange[0]);
    }
  });
  extent *= 1.02;

  // ---- the timeline ----
  const canvas = byId<HTMLCanvasElement>('kal-timeline');
  const tooltip = byId('kal-tooltip');
  const ctx = canvas.getContext('2d')!;
  const view = { t0: 0, t1: extent, top: 0 };
  let width = 0;
  let height = 0;
  let highlighted: Row | null = null;

  const plotWidth = () => Math.max(10, width - LABEL - 10);
  const xOf = (t: number) => LABEL + ((t - view.t0) / (view.t1 - view.t0)) * plotWidth();
  const tOf = (x: number) => view.t0 + ((x - LABEL) / plotWidth()) * (view.t1 - view.t0);
  const visibleRows = () => Math.max(1, Math.floor((height - AXIS) / LANE));
  const maxTop = () => Math.max(0, rows.length - visibleRows());
  const rowY = (i: number) => AXIS + (i - view.top) * LANE;

  function resize(): void {
    const dpr = window.devicePixelRatio || 1;
    width = canvas.parentElement!.clientWidth || 900;
    height = Math.min(MAX_HEIGHT, AXIS + rows.length * LANE + 4);
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  /** A gap's colour against its server's idle timeout: far below, approaching, at or past it. */
  function gapColor(ms: number, timeout: number | null): string {
    if (timeout === null || timeout <= 0) return '#afb8c1';
    const share = ms / timeout;
    return share >= 0.9 ? '#cf222e' : share >= 0.5 ? '#d4a72c' : '#2da44e';
  }

  function niceStep(span: number, pixels: number): number {
    const raw = span / Math.max(1, pixels / 90);
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  function formatMs(ms: number): string {
    const a = Math.abs(ms);
    if (a >= 60_000) return `${(ms / 60_000).toFixed(a >= 600_000 ? 0 : 1)} min`;
    if (a >= 1000) return `${(ms / 1000).toFixed(a >= 10_000 ? 1 : 2)} s`;
    if (a >= 1 || a === 0) return `${ms.toFixed(a >= 100 ? 0 : 1)} ms`;
    return `${ms.toFixed(3)} ms`;
  }

  function drawAxis(): void {
    ctx.fillStyle = '#f6f8fa';
    ctx.fillRect(0, 0, width, AXIS);
    const step = niceStep(view.t1 - view.t0, plotWidth());
    ctx.fillStyle = '#57606a';
    ctx.strokeStyle = '#eaeef2';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      const x = xOf(t);
      ctx.beginPath();
      ctx.moveTo(x + 0.5, AXIS);
      ctx.lineTo(x + 0.5, height);
      ctx.stroke();
      ctx.fillText(formatMs(t), x + 2, AXIS / 2);
    }
    ctx.fillText('time since each run began', 4, AXIS / 2);
  }

  function drawLane(row: Row & { head: false }, y: number): void {
    const c = row.c;
    const mid = y + LANE / 2;
    const right = width;
    const clampX = (x: number) => Math.max(LABEL - 4, Math.min(right + 4, x));
    const start = c.start ?? 0;
    const end = c.end ?? (c.open ? extent : start);
    if (row === highlighted) {
      ctx.fillStyle = '#fff8c5';
      ctx.fillRect(LABEL, y, width - LABEL, LANE);
    }
    // The connection's life: a thin line.
    ctx.strokeStyle = '#8c959f';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(clampX(xOf(start)), mid + 0.5);
    ctx.lineTo(clampX(xOf(end)), mid + 0.5);
    ctx.stroke();
    // TIME_WAIT: a dashed tail after the close, on the side that holds it (top: client, bottom: server).
    if (c.timeWait !== null) {
      const closed = Math.max(end, c.clientFin ?? 0, c.serverFin ?? 0);
      const ty = c.timeWait === 'client' ? y + 2.5 : y + LANE - 2.5;
      ctx.strokeStyle = '#afb8c1';
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(clampX(xOf(closed)), ty);
      ctx.lineTo(clampX(xOf(closed + data.timeWaitMs)), ty);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    // Idle gaps: between a response's end and the next request, and after the last response.
    const xs = c.exchanges;
    ctx.lineWidth = 3;
    for (let i = 0; i < xs.length; i++) {
      const from = xs[i]![1];
      if (from === null) continue;
      const next = i + 1 < xs.length ? xs[i + 1]![0] : (c.clientFin ?? c.serverFin ?? c.resetAt ?? c.end);
      if (next === null || next <= from) continue;
      ctx.strokeStyle = gapColor(next - from, c.idleTimeoutMs);
      ctx.beginPath();
      ctx.moveTo(clampX(xOf(from)), mid + 0.5);
      ctx.lineTo(clampX(xOf(next)), mid + 0.5);
      ctx.stroke();
    }
    ctx.lineWidth = 1;
    // One bar per request: request start to response end.
    for (const x of xs) {
      const x0 = xOf(x[0]);
      const x1 = Math.max(x0 + 2, xOf(x[1] ?? c.end ?? x[0]));
      if (x1 < LABEL || x0 > right) continue;
      const status = x[4];
      ctx.fillStyle = status === null ? '#8c959f' : (STATUS_COLORS.find(([from]) => status >= from)?.[1] ?? '#8c959f');
      ctx.fillRect(Math.max(LABEL, x0), y + 3, Math.min(right, x1) - Math.max(LABEL, x0), LANE - 6);
    }
    if (xs.length === 0)
      for (let i = 0; i + 1 < c.busy.length; i += 2) {
        const x0 = xOf(c.busy[i]!);
        const x1 = Math.max(x0 + 2, xOf(c.busy[i + 1]!));
        ctx.fillStyle = '#8c959f';
        if (x1 >= LABEL && x0 <= right)
          ctx.fillRect(Math.max(LABEL, x0), y + 4, Math.min(right, x1) - Math.max(LABEL, x0), LANE - 8);
      }
    // SYN: a green triangle at the start.
    if (c.syn && c.start !== null) {
      const x = xOf(c.start);
      if (x >= LABEL) {
        ctx.fillStyle = '#1a7f37';
        ctx.beginPath();
        ctx.moveTo(x, y + 2);
        ctx.lineTo(x + 5, mid);
        ctx.lineTo(x, y + LANE - 2);
        ctx.fill();
      }
    }
    // FINs: the client's a blue tick above the line, the server's a purple one below.
    const tick = (t: number | null, color: string, top: boolean) => {
      if (t === null) return;
      const x = xOf(t);
      if (x < LABEL) return;
      ctx.fillStyle = color;
      ctx.fillRect(x - 1, top ? y + 1 : mid, 2, LANE / 2 - 1);
    };
    tick(c.clientFin, '#0969da', true);
    tick(c.serverFin, '#8250df', false);
    // RST: a red cross.
    if (c.resetBy !== null) {
      const x = xOf(c.resetAt ?? end);
      if (x >= LABEL) {
        ctx.strokeStyle = '#cf222e';
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.moveTo(x - 4, y + 3);
        ctx.lineTo(x + 4, y + LANE - 3);
        ctx.moveTo(x + 4, y + 3);
        ctx.lineTo(x - 4, y + LANE - 3);
        ctx.stroke();
        ctx.lineWidth = 1;
      }
    }
    // Findings: a diamond where their evidence happened.
    for (const m of row.marks) {
      const x = xOf(m.at);
      if (x < LABEL) continue;
      ctx.fillStyle = SEVERITY_COLORS[m.severity] ?? '#000';
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x + 5, mid);
      ctx.lineTo(x, y + LANE);
      ctx.lineTo(x - 5, mid);
      ctx.fill();
    }
    // The label.
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, y, LABEL - 4, LANE);
    ctx.fillStyle = '#24292f';
    ctx.fillText(`#${c.id} ${c.client} (${c.unknown ? '?' : c.requests})`, 4, mid, LABEL - 8);
  }

  function draw(): void {
    ctx.clearRect(0, 0, width, height);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    drawAxis();
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, AXIS, width, height - AXIS);
    ctx.clip();
    const first = Math.max(0, Math.floor(view.top));
    const last = Math.min(rows.length - 1, Math.ceil(view.top + visibleRows()));
    for (let i = first; i <= last; i++) {
      const row = rows[i]!;
      const y = rowY(i);
      if (row.head) {
        const run = data.runs[row.run]!;
        ctx.fillStyle = '#eaeef2';
        ctx.fillRect(0, y, width, LANE);
        ctx.fillStyle = '#24292f';
        ctx.font = 'bold 11px system-ui, sans-serif';
        const omitted = run.omitted > 0 ? ` (${run.omitted} more not kept)` : '';
        ctx.fillText(`${row.run + 1}. ${run.title}: ${run.connections.length} connections${omitted}`, 4, y + LANE / 2);
        ctx.font = '11px system-ui, sans-serif';
      } else drawLane(row, y);
    }
    ctx.restore();
    // The vertical position, when not every lane fits.
    if (maxTop() > 0) {
      const h = height - AXIS;
      const thumb = Math.max(20, (visibleRows() / rows.length) * h);
      ctx.fillStyle = 'rgba(0,0,0,0.25)';
      ctx.fillRect(width - 6, AXIS + (view.top / maxTop()) * (h - thumb), 5, thumb);
    }
  }

  let pending = false;
  function redraw(): void {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw();
    });
  }

  /** What is under the pointer, in words (one line each), or null. */
  function describeAt(px: number, py: number): string[] | null {
    if (py < AXIS) return null;
    const i = Math.floor(view.top + (py - AXIS) / LANE);
    const row = rows[i];
    if (row === undefined) return null;
    const run = data.runs[row.run]!;
    if (row.head) return [`${row.run + 1}. ${run.title}`, `observer: ${run.observer}`];
    const c = row.c;
    const near = (t: number | null) => t !== null && Math.abs(xOf(t) - px) <= 5;
    const head = `#${c.id} ${c.client} -> ${c.server}`;
    const lines: string[] = [];
    for (const m of row.marks) if (near(m.at)) lines.push(`${m.severity} ${m.code} at ${formatMs(m.at)}: ${m.what}`);
    if (px >= LABEL) {
      const t = tOf(px);
      const slack = (view.t1 - view.t0) * (3 / plotWidth());
      c.exchanges.forEach((x, k) => {
        const end = x[1] ?? c.end ?? x[0];
        if (t >= x[0] - slack && t <= end + slack) {
          const status = x[4] === null ? 'no response' : String(x[4]);
          const took = x[1] === null ? 'no response end' : `took ${formatMs(x[1] - x[0])}`;
          lines.push(`request ${k + 1}: ${x[2]} ${x[3]} -> ${status}`);
          lines.push(`  at ${formatMs(x[0])}, ${took}`);
        }
      });
      if (c.syn && near(c.start)) lines.push(`SYN at ${formatMs(c.start!)}`);
      if (near(c.clientFin)) lines.push(`FIN from the client at ${formatMs(c.clientFin!)}`);
      if (near(c.serverFin)) lines.push(`FIN from the server at ${formatMs(c.serverFin!)}`);
      if (c.resetBy !== null && near(c.resetAt ?? c.end)) lines.push(`RST by the ${c.resetBy}`);
      if (lines.length === 0)
        for (let k = 0; k < c.exchanges.length; k++) {
          const from = c.exchanges[k]![1];
          const next = k + 1 < c.exchanges.length ? c.exchanges[k + 1]![0] : (c.clientFin ?? c.serverFin ?? c.end);
          if (from !== null && next !== null && t > from && t < next) {
            const of = c.idleTimeoutMs === null ? '' : ` (server's idle timeout ${formatMs(c.idleTimeoutMs)})`;
            lines.push(`idle ${formatMs(next - from)}${of}`);
          }
        }
    }
    const life = c.start !== null && c.end !== null ? `, lasted ${formatMs(c.end - c.start)}` : '';
    const requests = c.unknown ? 'requests unknown (TLS without the keys)' : `${c.requests} request(s)`;
    lines.push(`${requests}${life}`);
    const fin = c.firstFin === null ? 'no FIN' : `first FIN by the ${c.firstFin}`;
    const tw = c.timeWait === null ? '' : `, TIME_WAIT on the ${c.timeWait}`;
    lines.push(`${fin}${tw}${c.resetBy === null ? '' : `, RST by the ${c.resetBy}`}`);
    return [head, ...lines];
  }

  function showTooltip(e: MouseEvent): void {
    const box = canvas.getBoundingClientRect();
    const lines = describeAt(e.clientX - box.left, e.clientY - box.top);
    if (lines === null) {
      tooltip.hidden = true;
      return;
    }
    tooltip.textContent = lines.join('\n');
    tooltip.hidden = false;
    const left = Math.min(e.clientX + 14, window.innerWidth - tooltip.offsetWidth - 8);
    tooltip.style.left = `${left + window.scrollX}px`;
    tooltip.style.top = `${e.clientY + 14 + window.scrollY}px`;
  }

  let drag: { x: number; y: number; t0: number; t1: number; top: number } | null = null;
  canvas.addEventListener('mousedown', (e) => {
    drag = { x: e.clientX, y: e.clientY, t0: view.t0, t1: view.t1, top: view.top };
    canvas.style.cursor = 'grabbing';
  });
  window.addEventListener('mouseup', () => {
    drag = null;
    canvas.style.cursor = '';
  });
  canvas.addEventListener('mousemove', (e) => {
    if (drag !== null) {
      const dt = ((e.clientX - drag.x) / plotWidth()) * (drag.t1 - drag.t0);
      view.t0 = drag.t0 - dt;
      view.t1 = drag.t1 - dt;
      view.top = Math.max(0, Math.min(maxTop(), drag.top - (e.clientY - drag.y) / LANE));
      tooltip.hidden = true;
      redraw();
    } else showTooltip(e);
  });
  canvas.addEventListener('mouseleave', () => (tooltip.hidden = true));
  canvas.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault();
      const box = canvas.getBoundingClientRect();
      const px = e.clientX - box.left;
      if (e.shiftKey || px < LABEL) {
        view.top = Math.max(0, Math.min(maxTop(), view.top + Math.sign(e.deltaY) * 3));
      } else {
        const at = tOf(px);
        const k = Math.exp(Math.max(-1, Math.min(1, e.deltaY * 0.002)));
        view.t0 = at - (at - view.t0) * k;
        view.t1 = at + (view.t1 - at) * k;
      }
      redraw();
    },
    { passive: false },
  );
  byId('kal-reset').addEventListener('click', () => {
    view.t0 = 0;
    view.t1 = extent;
    view.top = 0;
    highlighted = null;
    redraw();
  });
  window.addEventListener('resize', () => {
    resize();
    redraw();
  });

  /** Brings a row into view on the timeline. */
  function showRow(i: number): void {
    const rows0 = visibleRows();
    if (i < view.top || i >= view.top + rows0 - 1) view.top = Math.max(0, Math.min(maxTop(), i - 2));
  }

  // ---- the connection table: only the rows in view are elements ----
  type Column = {
    label: string;
    value: (r: Row & { head: false }) => string | number;
    numeric: boolean;
    wide?: boolean;
  };
  const fmt = (t: number | null) => (t === null ? '' : t.toFixed(3));
  const columns: Column[] = [
    { label: 'run', value: (r) => r.run + 1, numeric: true },
    { label: '#', value: (r) => r.c.id, numeric: true },
    { label: 'client', value: (r) => r.c.client, numeric: false, wide: true },
    { label: 'server', value: (r) => r.c.server, numeric: false, wide: true },
    { label: 'start ms', value: (r) => fmt(r.c.start), numeric: true },
    {
      label: 'lasted ms',
      value: (r) => (r.c.start === null || r.c.end === null ? '' : fmt(r.c.end - r.c.start)),
      numeric: true,
    },
    { label: 'requests', value: (r) => (r.c.unknown ? '?' : r.c.requests), numeric: true },
    { label: 'statuses', value: (r) => r.c.statuses.join(' '), numeric: false },
    { label: 'first FIN', value: (r) => r.c.firstFin ?? '', numeric: false },
    { label: 'RST', value: (r) => r.c.resetBy ?? '', numeric: false },
    { label: 'TIME_WAIT', value: (r) => r.c.timeWait ?? '', numeric: false },
    { label: 'TLS', value: (r) => r.c.tls ?? '', numeric: false },
    { label: 'bytes c->s', value: (r) => r.c.bytesFromClient, numeric: true },
    { label: 'bytes s->c', value: (r) => r.c.bytesFromServer, numeric: true },
    { label: 'findings', value: (r) => [...new Set(r.marks.map((m) => m.code))].join(' '), numeric: false },
  ];
  const lanes = rows.filter((r): r is Row & { head: false } => !r.head);
  /** Each lane's text the filter searches, made at the first filter (10,000 strings cost a load). */
  let text: string[] | null = null;
  const searchText = () =>
    lanes.map((r) =>
      [
        r.c.id,
        r.c.client,
        r.c.server,
        data.runs[r.run]!.title,
        r.c.statuses.join(' '),
        r.c.firstFin ?? '',
        r.c.resetBy === null ? '' : 'rst',
        r.c.notes.join(' '),
        ...r.marks.map((m) => m.code),
        ...r.c.exchanges.map((x) => `${x[2]} ${x[3]}`),
      ]
        .join('\u0000')
        .toLowerCase(),
    );
  let shown: number[] = [];
  let sortBy = -1;
  let descending = false;
  const head = byId('kal-table-head');
  const scroller = byId('kal-table-scroll');
  const spacer = byId('kal-table-spacer');
  const body = byId('kal-table-body');
  const filter = byId<HTMLInputElement>('kal-filter');
  const count = byId('kal-table-count');
  const width0 = (c: Column) =>
    c.wide ? 'minmax(150px, 2fr)' : c.numeric ? 'minmax(50px, 0.6fr)' : 'minmax(60px, 0.8fr)';
  const grid = columns.map(width0).join(' ');
  head.style.gridTemplateColumns = grid;
  columns.forEach((col, k) => {
    const cell = document.createElement('div');
    cell.textContent = col.label;
    cell.className = col.numeric ? 'num' : '';
    cell.addEventListener('click', () => {
      descending = sortBy === k ? !descending : false;
      sortBy = k;
      for (const [j, el] of Array.from(head.children).entries())
        el.setAttribute('aria-sort', j === k ? (descending ? 'descending' : 'ascending') : 'none');
      apply();
    });
    head.appendChild(cell);
  });
  const laneRow = new Map<PageConnection, number>();
  rows.forEach((r, i) => {
    if (!r.head) laneRow.set(r.c, i);
  });

  function apply(): void {
    const q = filter.value.trim().toLowerCase();
    shown = [];
    if (q === '') for (let i = 0; i < lanes.length; i++) shown.push(i);
    else {
      text ??= searchText();
      for (let i = 0; i < lanes.length; i++) if (text[i]!.includes(q)) shown.push(i);
    }
    if (sortBy >= 0) {
      const col = columns[sortBy]!;
      const sign = descending ? -1 : 1;
      const keys = new Map(shown.map((i) => [i, col.value(lanes[i]!)]));
      shown.sort((a, b) => {
        const x = keys.get(a)!;
        const y = keys.get(b)!;
        const d = col.numeric
          ? Number(x === '' ? -Infinity : x) - Number(y === '' ? -Infinity : y)
          : String(x).localeCompare(String(y));
        return d === 0 ? a - b : d * sign;
      });
    }
    count.textContent = `${shown.length} of ${lanes.length} connections`;
    spacer.style.height = `${shown.length * ROW}px`;
    renderRows();
  }

  function renderRows(): void {
    const first = Math.floor(scroller.scrollTop / ROW);
    const n = Math.ceil(scroller.clientHeight / ROW) + 2;
    body.replaceChildren();
    body.style.transform = `translateY(${first * ROW}px)`;
    for (let k = first; k < Math.min(shown.length, first + n); k++) {
      const lane = lanes[shown[k]!]!;
      const tr = document.createElement('div');
      tr.className = 'row';
      tr.style.gridTemplateColumns = grid;
      for (const col of columns) {
        const td = document.createElement('div');
        td.textContent = String(col.value(lane));
        if (col.numeric) td.className = 'num';
        tr.appendChild(td);
      }
      tr.addEventListener('click', () => {
        highlighted = lane;
        showRow(laneRow.get(lane.c)!);
        redraw();
        canvas.scrollIntoView({ block: 'nearest' });
      });
      body.appendChild(tr);
    }
  }
  scroller.addEventListener('scroll', renderRows);
  filter.addEventListener('input', apply);

  resize();
  draw();
  apply();
  const summary: PageSummary = {
    rendered: true,
    lanes: lanes.length,
    bars,
    marks: markCount,
    runs: data.runs.length,
    renderMs: performance.now() - started,
    readyMs: performance.now(),
    barAt(run: number, connection: number, exchange: number) {
      const i = rows.findIndex((r) => !r.head && r.run === run && r.c.id === connection);
      const row = rows[i];
      if (row === undefined || row.head) return null;
      const x = row.c.exchanges[exchange];
      if (x === undefined) return null;
      showRow(i);
      draw();
      const box = canvas.getBoundingClientRect();
      const x0 = Math.max(LABEL, xOf(x[0]));
      const x1 = Math.min(width, Math.max(xOf(x[0]) + 2, xOf(x[1] ?? row.c.end ?? x[0])));
      const canvasX = (x0 + x1) / 2;
      const canvasY = rowY(i) + LANE / 2;
      return { x: box.left + canvasX, y: box.top + canvasY, canvasX, canvasY };
    },
    tableRows: () => shown.length,
  };
  Object.defineProperty(window, '__kal', { value: Object.freeze(summary), writable: false });
  canvas.dataset.lanes = String(lanes.length);
  canvas.dataset.bars = String(bars);
  document.body.dataset.rendered = 'true';
}
