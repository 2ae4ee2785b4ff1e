import { utils } from 'ssh2';

/**
 * An ed25519 key pair that ssh2 can read back. ssh2 1.17's generateKeyPairSync
 * writes about one key in 450 with a 31-byte public key (a zero byte lost),
 * which its own parser then rejects as "Malformed OpenSSH private key".
 */
export function generateEd25519(passphrase?: { passphrase: string; cipher: string; rounds: number }): {
  private: string;
  public: string;
} {
  for (;;) {
    const pair = passphrase
      ? utils.generateKeyPairSync('ed25519', passphrase)
      : utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(pair.private, passphrase?.passphrase) instanceof Error)) return pair;
  }
}
