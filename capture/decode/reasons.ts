/**
 * Why a frame was not decoded as TCP. Decoders return one of these numbers (0 = a TCP
 * segment was decoded); the writer counts them by name and by category, so a user can
 * check the session's counts against Wireshark. Truncated (the capture cut the bytes
 * short) and malformed (the bytes contradict themselves) are kept apart on purpose.
 */
export const DECODED_TCP = 0;

export type SkipCategory = 'truncated' | 'malformed' | 'notIp' | 'notTcp' | 'other';

interface ReasonInfo {
  name: string;
  category: SkipCategory;
}

export const REASONS: readonly ReasonInfo[] = [
  { name: 'tcp', category: 'other' }, // 0: not a skip
  { name: 'truncated-link-header', category: 'truncated' },
  { name: 'truncated-ip-header', category: 'truncated' },
  { name: 'truncated-ipv6-extension-header', category: 'truncated' },
  { name: 'truncated-tcp-header', category: 'truncated' },
  { name: 'malformed-ip-version', category: 'malformed' },
  { name: 'malformed-ipv4-header-length', category: 'malformed' },
  { name: 'malformed-ip-total-length', category: 'malformed' },
  { name: 'malformed-ipv6-extension-header', category: 'malformed' },
  { name: 'malformed-tcp-data-offset', category: 'malformed' },
  { name: 'not-ip', category: 'notIp' },
  { name: 'unsupported-link-type', category: 'notIp' },
  { name: 'not-tcp', category: 'notTcp' },
  { name: 'ip-fragment', category: 'other' },
  { name: 'duplicate-packet-copy', category: 'other' },
];

export const R_TRUNCATED_LINK = 1;
export const R_TRUNCATED_IP = 2;
export const R_TRUNCATED_IPV6_EXT = 3;
export const R_TRUNCATED_TCP = 4;
export const R_MALFORMED_IP_VERSION = 5;
export const R_MALFORMED_IPV4_IHL = 6;
export const R_MALFORMED_IP_LENGTH = 7;
export const R_MALFORMED_IPV6_EXT = 8;
export const R_MALFORMED_TCP_OFFSET = 9;
export const R_NOT_IP = 10;
export const R_UNSUPPORTED_LINK = 11;
export const R_NOT_TCP = 12;
export const R_IP_FRAGMENT = 13;
/** Not produced by the decoder: a pcapng copy of a packet already kept (epb_packetid). */
export const R_DUPLICATE_COPY = 14;

export function reasonName(code: number): string {
  return REASONS[code]?.name ?? `reason-${code}`;
}

export function reasonCategory(code: number): SkipCategory {
  return REASONS[code]?.category ?? 'other';
}
