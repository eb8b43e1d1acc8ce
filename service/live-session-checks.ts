import { AckscopeError } from '../core/errors.js';
import { compileFilter, listInterfaces, nativeAvailable, LINKTYPE_ETHERNET } from '../capture/native/index.js';

/** Linux's `any` pseudo-device captures with cooked headers (DLT_LINUX_SLL), not Ethernet. */
const LINKTYPE_LINUX_SLL = 113;

/**
 * Refuses a live session that could never start, when it is created rather than at
 * start: an interface libpcap does not list, a filter libpcap does not compile (its own
 * message). Without the native addon nothing can be checked here; the start then
 * answers 503 as before.
 */
export function checkLiveSession(iface: string, filter: string | undefined, snaplen: number | undefined): void {
  if (!nativeAvailable()) return;
  const known = listInterfaces().map((i) => i.name);
  if (!known.includes(iface)) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_CAPTURE_INTERFACE',
      `body.interface: libpcap knows no interface "${iface}" on this host; it knows: ${known.join(', ')} (GET /interfaces)`,
      { field: 'body.interface', interface: iface, known },
    );
  }
  if (filter) {
    const linkType = iface === 'any' ? LINKTYPE_LINUX_SLL : LINKTYPE_ETHERNET;
    try {
      compileFilter(filter, linkType, snaplen);
    } catch (err) {
      if (err instanceof AckscopeError && err.code === 'ACKSCOPE_ERR_CAPTURE_FILTER') {
        throw new AckscopeError('ACKSCOPE_ERR_CAPTURE_FILTER', `body.filter: ${err.message}`, { field: 'body.filter', filter });
      }
      throw err;
    }
  }
}
