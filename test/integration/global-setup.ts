/**
 * One Temporal dev server for the whole integration run (the SDK's own launcher
 * waits only 5 s for start-up, too short on a cold 2-core machine). Test files
 * connect to it through TEMPORAL_ADDRESS and bring their own fleets.
 */
import { startDevServer, type DevServer } from '../../src/temporal/devserver';

declare global {
  var __rollbookTemporal: DevServer | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.env.ROLLBOOK_TEST_TEMPORAL_ADDRESS) {
    process.env.TEMPORAL_ADDRESS = process.env.ROLLBOOK_TEST_TEMPORAL_ADDRESS;
    return;
  }
  const server = await startDevServer();
  globalThis.__rollbookTemporal = server;
  process.env.TEMPORAL_ADDRESS = server.address;
}
