// The KPI dashboard's script: plain browser JS, no build step. Data from ./dashboard/api/*.
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
  const duration = (ms) => (ms == null ? '–' : `${Math.floor(ms / 60000)}:${String(Math.round((ms % 60000) / 1000)).padStart(2, '0')}`);
  const ago = (seconds) => (seconds == null ? 'never' : seconds < 3600 ? `${Math.round(seconds / 60)} min ago` : `${(seconds / 3600).toFixed(1)} h ago`);
  const HOURS = Array.from({ length: 24 }, (_, h) => h);

  function fillTable(id, rows, cells) {
    const body = $(id).querySelector('tbody');
    body.replaceChildren(
      ...rows.map((row) => {
        const tr = document.createElement('tr');
        for (const [value, cls] of cells(row)) {
          const td = document.createElement('td');
          td.textContent = value;
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
      [g.genre],
      [number(g.listen_count), 'n'],
      [number(g.popularity_index, 2), 'n'],
      [duration(g.avg_track_duration_ms), 'n'],
      [g.most_popular_track_name ?? g.most_popular_track_id ?? '–'],
      [number(g.most_popular_track_plays), 'n'],
    ]);
    fillTable('hourly-table', day.hourly, (h) => [
      [String(h.listen_hour), 'n'],
      [number(h.unique_listeners), 'n'],
      [number(h.total_plays), 'n'],
      [number(h.unique_tracks), 'n'],
      [number(h.track_diversity_index, 3), 'n'],
      [h.top_artist ?? '–', h.top_artist ? '' : 'muted'],
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
      [r.finishedAt ? r.finishedAt.replace('T', ' ').slice(0, 19) : '–'],
      [`${r.files.loaded} / ${r.files.rejected}`, 'n'],
      [number(r.rows.read), 'n'],
      [number(r.rows.valid), 'n'],
      [
        Object.entries(r.rows.rejectedByReason)
          .map(([reason, n]) => `${reason}: ${n}`)
          .join(', ') || '–',
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
      ],
      [r.error ?? ''],
    ]);
  }

  async function start() {
    const { dates, freshness } = await api('dates');
    const deadlines = freshness.deadlines.map((d) => ` · ${d.level === 'error' ? 'deadline' : 'warn'} ${d.time} UTC: ${d.listenDate} ${d.state}`).join('');
    $('freshness').textContent =
      `newest date ${freshness.newestListenDate ?? '–'} · last successful run ${ago(freshness.lastSuccessfulRunAgeSeconds)}${deadlines}`;
    $('freshness').dataset.deadline = freshness.deadlines.some((d) => d.state === 'missed') ? 'missed' : 'ok';
    const select = $('date');
    select.replaceChildren(...dates.map((d) => new Option(d, d)));
    const wanted = new URLSearchParams(location.search).get('date');
    if (wanted && dates.includes(wanted)) select.value = wanted;
    select.addEventListener('change', () => {
      history.replaceState(null, '', `?date=${select.value}`);
      showDay(select.value).catch(fail);
    });
    await Promise.all([dates.length ? showDay(select.value) : Promise.resolve(), showRuns()]);
    document.body.dataset.ready = 'true';
  }

  function fail(err) {
    $('error').textContent = err.message;
  }
  start().catch(fail);
})();
