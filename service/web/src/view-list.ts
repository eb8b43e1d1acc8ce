/**
 * The session list (#/): run a measurement (a live session on an interface, or a capture
 * file to import), the sessions with which ones are capturing (refreshed every second
 * while any is), and the choice of sessions to compare.
 */
import { ApiError, api, type NetworkInterface } from './api.js';
import { clear, h } from './dom.js';
import { formatCount, interfaceLabel, progressText } from './format.js';
import { poll } from './poll.js';
import type { SessionListItem } from './shapes.js';
import { errorBox, errorText, onViewEnd } from './view-kit.js';

export async function listView(root: HTMLElement): Promise<void> {
  document.title = 'ackscope: sessions';
  const listBox = h('section', { id: 'sessions' });
  root.append(h('h1', {}, 'Sessions'), h('div', { class: 'workbench' }, newSessionForm(), importBox()), listBox);
  const { items } = await api.sessions();
  renderList(listBox, items);
  // live: while a session captures, its counts and state refresh every second; otherwise
  // every 10 s, so a capture started elsewhere (CLI, API) shows up too
  let capturing = items.some((s) => s.state === 'capturing');
  let idleTicks = 0;
  const stop = poll(1000, async () => {
    if (!capturing && ++idleTicks % 10 !== 0) return true;
    const fresh = await api.sessions();
    if (!listBox.isConnected) return false;
    renderList(listBox, fresh.items);
    capturing = fresh.items.some((s) => s.state === 'capturing');
    return true;
  });
  onViewEnd(stop);
}

// ---------------------------------------------------------------------------------------
// The list

function renderList(box: HTMLElement, items: SessionListItem[]): void {
  const checked = new Set([...box.querySelectorAll<HTMLInputElement>('input.compare-pick:checked')].map((c) => c.value));
  clear(box);
  if (items.length === 0) {
    box.append(h('p', { class: 'muted' }, 'No sessions yet: start a live capture or import a capture file above.'));
    return;
  }
  const compareButton = h('button', { type: 'button', id: 'compare-button', disabled: true }, 'compare selected');
  const updateButton = () => {
    const n = box.querySelectorAll('input.compare-pick:checked').length;
    compareButton.disabled = n < 2;
    compareButton.textContent = n < 2 ? 'compare selected (pick two or more)' : `compare ${n} sessions`;
  };
  compareButton.addEventListener('click', () => {
    const ids = [...box.querySelectorAll<HTMLInputElement>('input.compare-pick:checked')].map((c) => c.value);
    location.hash = `#/compare?ids=${ids.join(',')}`;
  });
  const running = items.filter((s) => s.state === 'capturing').length;
  box.append(
    h('h2', {}, 'All sessions'),
    h('p', { class: 'small muted', id: 'running-note' }, running > 0 ? `${running} capturing now; their counts refresh every second.` : 'None capturing.'),
    h(
      'table',
      { class: 'sessions', id: 'session-list' },
      h(
        'thead',
        {},
        h('tr', {}, ['id', 'name', 'kind', 'state', 'created', 'frames', 'tcp', 'completions', 'kernel drops', 'if drops', 'compare'].map((t) => h('th', {}, t))),
      ),
      h('tbody', {}, items.map((s) => sessionRow(s, checked.has(String(s.id)), updateButton))),
    ),
    compareButton,
  );
  updateButton();
}

function sessionRow(s: SessionListItem, checked: boolean, onPick: () => void): HTMLElement {
  const link = (text: string | number) => h('a', { href: `#/sessions/${s.id}` }, text);
  const dropped = (s.drops.dropped ?? 0) > 0 || (s.drops.ifDropped ?? 0) > 0;
  const pick = h('input', { type: 'checkbox', class: 'compare-pick', value: s.id, checked, 'aria-label': `compare session ${s.id}` });
  pick.addEventListener('change', onPick);
  return h(
    'tr',
    { 'data-session': s.id, 'data-state': s.state, class: s.state === 'capturing' ? 'running' : undefined },
    h('td', { class: 'num' }, link(s.id)),
    h('td', {}, link(s.name)),
    h('td', {}, s.kind),
    h('td', {}, stateBadge(s.state, s.failureReason)),
    h('td', {}, s.createdAt.replace('T', ' ').slice(0, 19)),
    h('td', { class: 'num' }, formatCount(s.frames)),
    h('td', { class: 'num' }, formatCount(s.tcp)),
    h('td', { class: 'num' }, formatCount(s.completions)),
    h('td', { class: dropped ? 'num warn' : 'num' }, formatCount(s.drops.dropped)),
    h('td', { class: dropped ? 'num warn' : 'num' }, formatCount(s.drops.ifDropped)),
    h('td', {}, pick),
  );
}

/** A state as a badge; a capturing one carries a dot and the word, not colour alone. */
export function stateBadge(state: string, failureReason: string | null): HTMLElement {
  return h('span', { class: `state state-${state}`, title: failureReason ?? undefined }, state === 'capturing' ? '● capturing' : state);
}

// ---------------------------------------------------------------------------------------
// A live measurement

function newSessionForm(): HTMLElement {
  const name = h('input', { id: 'new-name', name: 'name', required: true, maxlength: 200, value: 'live capture' });
  const iface = h('select', { id: 'new-interface', name: 'interface', required: true }, h('option', { value: '' }, 'loading interfaces…'));
  const filter = h('input', { id: 'new-filter', name: 'filter', placeholder: 'e.g. tcp port 7000', maxlength: 4096, 'aria-describedby': 'filter-error', spellcheck: false });
  const filterError = h('p', { id: 'filter-error', class: 'field-error', 'aria-live': 'polite' });
  const snaplen = h('input', { id: 'new-snaplen', name: 'snaplen', type: 'number', min: 64, max: 262144, placeholder: 'default: whole packets' });
  const buffer = h('input', { id: 'new-buffer', name: 'bufferSize', type: 'number', min: 64, max: 1048576, placeholder: 'default: libpcap\u2019s' });
  const formError = h('div', { id: 'create-error', 'aria-live': 'polite' });
  const startNow = h('button', { type: 'submit', id: 'create-start', value: 'start' }, 'create and start capturing');
  const createOnly = h('button', { type: 'submit', id: 'create-only', value: 'create' }, 'create only');
  const form = h(
    'form',
    { id: 'new-session', class: 'panel', novalidate: true },
    h('h2', {}, 'Run a measurement'),
    h('p', { class: 'small muted' }, 'A live capture on an interface of the service’s host. Post completions to the session (its id is in the address bar) while it captures.'),
    h('div', { class: 'field' }, h('label', { for: 'new-name' }, 'name'), name),
    h('div', { class: 'field' }, h('label', { for: 'new-interface' }, 'interface'), iface),
    h('div', { class: 'field' }, h('label', { for: 'new-filter' }, 'BPF filter'), filter, filterError),
    h(
      'details',
      {},
      h('summary', {}, 'advanced'),
      h('div', { class: 'field' }, h('label', { for: 'new-snaplen' }, 'snap length (bytes)'), snaplen),
      // seen here: snap length 65535 on lo lost frames (kernel drops) that 262144 kept; GSO frames exceed 64 KiB
      h('p', { class: 'small muted' }, 'Keep it at or above the largest frame: on lo and with GSO/TSO a frame can exceed 64 KiB, and a smaller snap length lost frames here.'),
      h('div', { class: 'field' }, h('label', { for: 'new-buffer' }, 'capture buffer (KiB)'), buffer),
    ),
    h('div', { class: 'actions' }, startNow, createOnly),
    formError,
  );
  void api.interfaces().then(
    ({ items }) => fillInterfaces(iface, items),
    (err) => {
      clear(iface);
      iface.append(h('option', { value: '' }, 'no interfaces'));
      formError.replaceChildren(errorBox(err));
    },
  );
  filter.addEventListener('input', () => (filterError.textContent = ''));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const submitter = (e as SubmitEvent).submitter as HTMLButtonElement | null;
    const start = submitter?.value !== 'create';
    filterError.textContent = '';
    formError.replaceChildren();
    if (!name.value.trim()) return formError.replaceChildren(errorBox('Give the session a name.'));
    if (!iface.value) return formError.replaceChildren(errorBox('Pick an interface.'));
    startNow.disabled = createOnly.disabled = true;
    void createLive(
      {
        name: name.value.trim(),
        kind: 'live',
        interface: iface.value,
        ...(filter.value.trim() ? { filter: filter.value.trim() } : {}),
        ...(snaplen.value ? { snaplen: Number(snaplen.value) } : {}),
        ...(buffer.value ? { bufferSize: Number(buffer.value) * 1024 } : {}),
      },
      start,
    )
      .then((id) => (location.hash = `#/sessions/${id}`))
      .catch((err) => {
        if (isFilterError(err)) filterError.textContent = errorText(err);
        else formError.replaceChildren(errorBox(err));
      })
      .finally(() => (startNow.disabled = createOnly.disabled = false));
  });
  return form;
}

function fillInterfaces(select: HTMLSelectElement, items: NetworkInterface[]): void {
  clear(select);
  // up interfaces with addresses first: those are the ones a measurement uses
  const sorted = [...items].sort((a, b) => Number(b.up) - Number(a.up) || b.addresses.length - a.addresses.length || a.name.localeCompare(b.name));
  for (const i of sorted) select.append(h('option', { value: i.name }, interfaceLabel(i)));
  if (sorted.length === 0) select.append(h('option', { value: '' }, 'libpcap lists no interface'));
}

/** The filter's fault: libpcap's compile error, or the schema's refusal of the field. */
function isFilterError(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  return err.code === 'ACKSCOPE_ERR_CAPTURE_FILTER' || (err.code === 'ACKSCOPE_ERR_VALIDATION' && /filter/.test(err.message));
}

/**
 * Creates the session and (start) starts it. The server compiles the filter when the
 * capture starts; when start refuses, the just-created session is deleted again, so
 * fixing a typo and retrying does not leave a trail of never-started sessions.
 */
async function createLive(body: Parameters<typeof api.create>[0], start: boolean): Promise<number> {
  const session = await api.create(body);
  if (!start) return session.id;
  try {
    await api.start(session.id);
  } catch (err) {
    await api.remove(session.id).catch(() => {});
    throw err;
  }
  return session.id;
}

// ---------------------------------------------------------------------------------------
// Importing a capture file

function importBox(): HTMLElement {
  const input = h('input', { type: 'file', id: 'import-file', accept: '.pcap,.pcapng,.cap,application/vnd.tcpdump.pcap' });
  const progress = h('progress', { id: 'import-progress', max: 1, value: 0, hidden: true });
  const status = h('p', { id: 'import-status', class: 'small', 'aria-live': 'polite' });
  const zone = h(
    'div',
    { class: 'dropzone', id: 'import-drop', tabindex: 0, role: 'button', 'aria-describedby': 'import-help' },
    h('strong', {}, 'Drop a pcap or pcapng file here'),
    h('span', { id: 'import-help', class: 'small muted' }, ' or press Enter to choose one.'),
  );
  const box = h(
    'section',
    { id: 'import', class: 'panel' },
    h('h2', {}, 'Import a capture'),
    h('p', { class: 'small muted' }, 'tcpdump, Wireshark or pktmon files. The file is uploaded to the service and becomes a session; post its completions afterwards.'),
    zone,
    h('label', { for: 'import-file', class: 'small' }, 'file '),
    input,
    progress,
    status,
  );
  const take = (file: File | undefined) => {
    if (!file) return;
    progress.hidden = false;
    progress.value = 0;
    status.className = 'small';
    status.textContent = `uploading ${file.name}…`;
    void importFile(file, (loaded, total) => {
      progress.value = total > 0 ? loaded / total : 0;
      status.textContent = `uploading ${file.name}: ${progressText(loaded, total)}`;
    })
      .then((id) => (location.hash = `#/sessions/${id}`))
      .catch((err) => {
        progress.hidden = true;
        status.className = 'small field-error';
        status.textContent = `${file.name} was not imported. ${errorText(err)}`;
      })
      .finally(() => (input.value = ''));
  };
  input.addEventListener('change', () => take(input.files?.[0]));
  zone.addEventListener('click', () => input.click());
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      input.click();
    }
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    take(e.dataTransfer?.files[0]);
  });
  return box;
}

/** A new import session, the file uploaded into it; a refused file leaves no empty session behind. */
async function importFile(file: File, onProgress: (loaded: number, total: number) => void): Promise<number> {
  const session = await api.create({ name: file.name.slice(0, 200) || 'import', kind: 'import' });
  try {
    await api.importFile(session.id, file, onProgress);
  } catch (err) {
    await api.remove(session.id).catch(() => {});
    throw err;
  }
  return session.id;
}
