/** IPv4 arithmetic for giving each fleet host a fixed address in its network's subnet. */

/** First host address handed out, as an offset from the subnet's base address. */
export const FIRST_HOST_OFFSET = 10;

export interface Subnet {
  /** Base address as an unsigned 32-bit number. */
  base: number;
  prefixLength: number;
}

export function parseIpv4(text: string): number {
  const parts = text.split('.');
  const octets = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  if (octets.length !== 4 || octets.some((o) => !(o >= 0 && o <= 255))) {
    throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
  }
  return octets.reduce((acc, o) => acc * 256 + o, 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** Parses `a.b.c.d/len`; the base is the network address even when host bits are set. */
export function parseSubnet(cidr: string): Subnet {
  const [address, length, extra] = cidr.split('/');
  const prefixLength = Number(length);
  if (address === undefined || extra !== undefined || !Number.isInteger(prefixLength)) {
    throw new Error(`not an IPv4 subnet: ${JSON.stringify(cidr)}`);
  }
  if (prefixLength < 8 || prefixLength > 28) {
    throw new Error(`subnet ${cidr} is outside /8../28, too odd for a test fleet`);
  }
  const size = 2 ** (32 - prefixLength);
  return { base: parseIpv4(address) - (parseIpv4(address) % size), prefixLength };
}

/**
 * The lowest free address at or above {@link FIRST_HOST_OFFSET}, skipping `used`
 * (which should include the gateway). Throws when the subnet is full.
 */
export function nextFreeAddress(subnet: Subnet, used: ReadonlySet<string>): string {
  const size = 2 ** (32 - subnet.prefixLength);
  for (let offset = FIRST_HOST_OFFSET; offset < size - 1; offset++) {
    const candidate = formatIpv4(subnet.base + offset);
    if (!used.has(candidate)) return candidate;
  }
  throw new Error(`no free address left in ${formatIpv4(subnet.base)}/${subnet.prefixLength}`);
}
