// The KPI dashboard's script: plain browser JS, no build step. Data from ./dashboard/api/*.
// Views by `?view=`: day (default), trends (`&from=&to=`), ops. Text goes in through textContent, title
// and Option only, never as HTML: track, artist and genre names are whatever the source files held.
/* global Chart */
(() => {
  'use strict';
  const api = (path) =>
    fetch(`dashboard/api/${path}`, { credentials: 'same-origin' }).then(async (res) => {
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${(await res.json().catch(() => ({}))).message ?? ''}`);
      return res.json();
    });
  const $ = (id) => document.getElementById(id);
  const number = (v, digits = 0) => (v == null ? '–' : Number(v).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
  const pad2 = (n) => String(n).padStart(2, '0');
  /** m:ss, or h:mm:ss from an hour on. */
  const duration = (ms) => {
    if (ms == null) return '–';
    const s = Math.round(ms / 1000);
    const [h, m] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60)];
    return h ? `${h}:${pad2(m)}:${pad2(s % 60)}` : `${m}:${pad2(s % 60)}`;
  };
  const utc = (iso) => (iso ? iso.replace('T', ' ').slice(0, 19) : '–');
  const ago = (seconds) => (seconds == null ? 'never' : seconds < 3600 ? `${Math.round(seconds / 60)} min ago` : `${(seconds / 3600).toFixed(1)} h ago`);
  const HOURS = Array.from({ length: 24 }, (_, h) => h);

  /**
   * Rows into a table's body. Each cell: [text, class] or [element]; class `cut` puts the text in a
   * span cut to the column's width with an ellipsis, its whole text the title.
   */
  function fillTable(id, rows, cells) {
    const body = $(id).querySelector('tbody');
    body.replaceChildren(
      ...rows.map((row) => {
        const tr = document.createElement('tr');
        for (const [value, cls] of cells(row)) {
          const td = document.createElement('td');
          if (value instanceof Node) td.append(value);
          else if (cls === 'cut') {
            const span = document.createElement('span');
            span.textContent = value;
            span.title = value;
            td.append(span);
          } else td.textContent = value;
          if (cls) td.className = cls;
          tr.append(td);
        }
        return tr;
      }),
    );
  }

  const charts = {};
  function draw(id, config) {
    if (charts[id]) {
      charts[id].data = config.data;
      charts[id].update();
    } else {
      charts[id] = new Chart($(id), config);
    }
  }

  async function showDay(date) {
    document.body.dataset.loading = date;
    const day = await api(`day?date=${encodeURIComponent(date)}`);
    const byHour = new Map(day.hourly.map((h) => [h.listen_hour, h]));
    draw('hourly-chart', {
      data: {
        labels: HOURS.map((h) => `${String(h).padStart(2, '0')}h`),
        datasets: [
          { type: 'bar', label: 'plays', data: HOURS.map((h) => byHour.get(h)?.total_plays ?? 0), backgroundColor: '#9cc3ff', yAxisID: 'y' },
          {
            type: 'line',
            label: 'unique listeners',
            data: HOURS.map((h) => byHour.get(h)?.unique_listeners ?? 0),
            borderColor: '#1a56db',
            backgroundColor: '#1a56db',
            yAxisID: 'y',
          },
        ],
      },
      options: { maintainAspectRatio: false, animation: false, interaction: { mode: 'index', intersect: false }, scales: { y: { beginAtZero: true } } },
    });
    const genres = [...day.genre].sort((a, b) => b.listen_count - a.listen_count || a.genre.localeCompare(b.genre));
    const top = genres.slice(0, 15);
    draw('genre-chart', {
      type: 'bar',
      data: {
        labels: top.map((g) => g.genre),
        datasets: [
          { label: 'plays', data: top.map((g) => g.listen_count), backgroundColor: '#1a56db' },
          { label: 'popularity index', data: top.map((g) => g.popularity_index), backgroundColor: '#f59e0b' },
        ],
      },
      options: { indexAxis: 'y', maintainAspectRatio: false, animation: false, scales: { x: { beginAtZero: true } } },
    });
    fillTable('genre-table', genres, (g) => [
      [g.genre, 'cut'],
      [number(g.listen_count), 'n'],
      [number(g.popularity_index, 2), 'n'],
      [duration(g.avg_track_duration_ms), 'n'],
      [g.most_popular_track_name ?? g.most_popular_track_id ?? '–', 'cut'],
      [number(g.most_popular_track_plays), 'n'],
    ]);
    fillTable('hourly-table', day.hourly, (h) => [
      [String(h.listen_hour), 'n'],
      [number(h.unique_listeners), 'n'],
      [number(h.total_plays), 'n'],
      [number(h.unique_tracks), 'n'],
      [number(h.track_diversity_index, 3), 'n'],
      [h.top_artist ?? '–', h.top_artist ? 'cut' : 'muted'],
      [number(h.top_artist_plays), 'n'],
    ]);
    document.body.dataset.date = date;
    delete document.body.dataset.loading;
  }

  async function showRuns() {
    const { runs } = await api('runs');
    fillTable('runs-table', runs, (r) => [
      [r.runId],
      [r.trigger],
      [r.status, r.status],
      [utc(r.finishedAt)],
      [`${r.files.loaded} / ${r.files.rejected}`, 'n'],
      [number(r.rows.read), 'n'],
      [number(r.rows.valid), 'n'],
      [
        Object.entries(r.rows.rejectedByReason)
          .map(([reason, n]) => `${reason}: ${n}`)
          .join(', ') || '–',
        'wrap',
      ],
      [number(r.rows.duplicate), 'n'],
      [`${number(r.rows.orphanTracks)} / ${number(r.rows.orphanUsers)}`, 'n'],
      [
        r.checks.length
          ? r.checks
              .filter((c) => !c.passed)
              .map((c) => `✗ ${c.name}`)
              .join(', ') || `✓ all ${r.checks.length}`
          : '–',
        'wrap',
      ],
      [r.error ?? '', 'wrap'],
    ]);
  }

  const GENRE_COLOURS = ['#1a56db', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#0ea5e9', '#ec4899', '#84cc16'];
  const STATUS_COLOURS = { succeeded: '#137333', partial: '#b06000', failed: '#c5221f', cancelled: '#6b7280' };
  const lineOptions = { maintainAspectRatio: false, animation: false, interaction: { mode: 'index', intersect: false } };

  async function showTrends(params) {
    const query = new URLSearchParams([...params].filter(([k, v]) => (k === 'from' || k === 'to') && v));
    const t = await api(`trends?${query}`);
    $('trend-from').value = t.from;
    $('trend-to').value = t.to;
    const labels = t.days.map((d) => d.listenDate);
    draw('trend-daily-chart', {
      type: 'bar',
      data: {
        labels,
        datasets: [
          { type: 'bar', label: 'plays', data: t.days.map((d) => d.plays), backgroundColor: '#9cc3ff', yAxisID: 'y' },
          {
            type: 'line',
            label: 'listeners (busiest hour)',
            data: t.days.map((d) => d.peakListeners),
            borderColor: '#1a56db',
            backgroundColor: '#1a56db',
            yAxisID: 'listeners',
          },
        ],
      },
      options: {
        ...lineOptions,
        scales: { y: { beginAtZero: true }, listeners: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false } } },
      },
    });
    draw('trend-genre-chart', {
      type: 'line',
      data: {
        labels,
        datasets: t.genres.map((g, i) => ({ label: g.genre, data: g.plays, borderColor: GENRE_COLOURS[i], backgroundColor: GENRE_COLOURS[i] })),
      },
      options: { ...lineOptions, scales: { y: { beginAtZero: true } } },
    });
    const timed = t.runs.filter((r) => r.durationMs != null).reverse();
    draw('trend-runs-chart', {
      type: 'bar',
      data: {
        labels: timed.map((r) => utc(r.startedAt).slice(5)),
        datasets: [
          {
            label: 'duration (s)',
            data: timed.map((r) => r.durationMs / 1000),
            backgroundColor: timed.map((r) => STATUS_COLOURS[r.status] ?? '#1a56db'),
          },
        ],
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: (item) => `${timed[item.dataIndex].status}, ${duration(item.raw * 1000)}` } } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0, callback: (s) => duration(s * 1000) } } },
      },
    });
    fillTable('trend-days-table', [...t.days].reverse(), (d) => [
      [d.listenDate],
      [number(d.plays), 'n'],
      [number(d.peakListeners), 'n'],
      [String(d.hours), d.hours === 24 ? 'n' : d.hours ? 'n partial' : 'n muted'],
      [d.topGenre ?? '–', 'cut'],
      [number(d.otherGenrePlays), 'n'],
    ]);
    fillTable('trend-runs-table', t.runs, (r) => [
      [utc(r.startedAt)],
      [r.runId],
      [r.trigger],
      [r.status, r.status],
      [duration(r.durationMs), 'n'],
      [number(r.rowsRead), 'n'],
      [number(r.kpiRows), 'n'],
    ]);
    const shown = t.runs.length < t.runsInRange ? `the newest ${t.runs.length} of ${t.runsInRange}` : String(t.runsInRange);
    $('trend-runs-title').textContent = `Runs started in the range (${shown})`;
    const days = t.days.filter((d) => d.hours > 0).length;
    $('trend-range').textContent = `${t.days.length} days, ${days} with KPI rows`;
  }

  function statusChip(text, status, title) {
    const chip = document.createElement('span');
    chip.className = `chip ${status}`;
    chip.textContent = text;
    chip.title = title;
    return chip;
  }

  async function showOperations() {
    const { sensor, backfills } = await api('operations');
    const every = (ms) => (ms == null ? '–' : ms % 60000 ? `${ms / 1000} s` : `${ms / 60000} min`);
    const since = (iso) => (iso ? `${utc(iso)} UTC (${ago((Date.now() - Date.parse(iso)) / 1000)})` : 'never');
    const facts = [
      [
        'state',
        sensor.enabled ? `on: looks every ${every(sensor.intervalMs)}, starts a run after ${every(sensor.quietMs)} quiet` : 'off (SENSOR_INTERVAL unset)',
      ],
      ['last look', since(sensor.checkedAt)],
      ['stream files seen', sensor.files == null ? '–' : number(sensor.files)],
      ['waiting for a run', sensor.waiting == null ? '–' : number(sensor.waiting)],
      ['last run started', sensor.lastRunId ? `${sensor.lastRunId} at ${since(sensor.lastRunAt)}` : 'none'],
    ];
    $('sensor').replaceChildren(
      ...facts.flatMap(([term, value]) => {
        const dt = document.createElement('dt');
        const dd = document.createElement('dd');
        dt.textContent = term;
        dd.textContent = value;
        return [dt, dd];
      }),
    );
    $('sensor').dataset.enabled = String(sensor.enabled);
    const count = (b, ...statuses) => b.dates.filter((d) => statuses.includes(d.status)).length;
    fillTable('backfills-table', backfills.list, (b) => {
      const chips = document.createElement('div');
      chips.className = 'chips';
      chips.append(...b.dates.map((d) => statusChip(d.listenDate.slice(5), d.status, `${d.listenDate}: ${d.status}${d.runId ? ` (run ${d.runId})` : ''}`)));
      const done = count(b, 'succeeded', 'partial', 'failed', 'cancelled');
      return [
        [b.backfillId],
        [b.state, b.state],
        [`${b.from} to ${b.to}`],
        [b.only],
        [String(b.concurrency), 'n'],
        [utc(b.createdAt)],
        [`${done} of ${b.dates.length} done, ${count(b, 'succeeded')} succeeded, ${count(b, 'running', 'queued')} running`, 'wrap'],
        [chips],
        [b.error ?? '', 'wrap'],
      ];
    });
    $('backfills-title').textContent =
      `Backfills (${backfills.list.length < backfills.total ? `the newest ${backfills.list.length} of ` : ''}${backfills.total})`;
  }

  const VIEWS = ['day', 'trends', 'ops'];

  async function start() {
    const params = new URLSearchParams(location.search);
    const view = VIEWS.includes(params.get('view')) ? params.get('view') : 'day';
    document.body.dataset.view = view;
    $(`${view}-view`).hidden = false;
    for (const a of document.querySelectorAll('nav a')) if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    const { dates, freshness } = await api('dates');
    const deadlines = freshness.deadlines.map((d) => ` · ${d.level === 'error' ? 'deadline' : 'warn'} ${d.time} UTC: ${d.listenDate} ${d.state}`).join('');
    $('freshness').textContent =
      `newest date ${freshness.newestListenDate ?? '–'} · last successful run ${ago(freshness.lastSuccessfulRunAgeSeconds)}${deadlines}`;
    $('freshness').dataset.deadline = freshness.deadlines.some((d) => d.state === 'missed') ? 'missed' : 'ok';
    if (view === 'trends') await showTrends(params);
    else if (view === 'ops') await showOperations();
    else {
      const select = $('date');
      select.replaceChildren(...dates.map((d) => new Option(d, d)));
      const wanted = params.get('date');
      if (wanted && dates.includes(wanted)) select.value = wanted;
      select.addEventListener('change', () => {
        history.replaceState(null, '', `?date=${select.value}`);
        showDay(select.value).catch(fail);
      });
      await Promise.all([dates.length ? showDay(select.value) : Promise.resolve(), showRuns()]);
    }
    document.body.dataset.ready = 'true';
  }

  function fail(err) {
    $('error').textContent = err.message;
  }
  start().catch(fail);
})();
