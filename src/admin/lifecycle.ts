/**
 * The admin listener across the primary's life: started with the configuration, kept
 * across reloads when its section is unchanged, updated in place when only the token,
 * the dashboard or the metrics switch changed (the token file is read again on every
 * reload, so a new token needs no restart), bound anew when its address changed.
 */
import type { AdminConfig } from '../config/types.js';
import type { RuntimeApi } from '../runtime/api.js';
import { AdminServer } from './server.js';

/** Starts the admin listener of a configuration, or nothing without an `admin` section. Throws a clear Error on failure. */
export async function startAdmin(api: RuntimeApi, config: AdminConfig | null): Promise<AdminServer | null> {
  return config === null ? null : AdminServer.start(api, config);
}

export interface AdminReload {
  /** The admin listener now running (the previous one when the new section could not be applied). */
  admin: AdminServer | null;
  /** What went wrong, or null. */
  problem: string | null;
  /** Whether a new listener was bound (its line should be logged again). */
  rebound: boolean;
}

/** Applies a reloaded `admin` section (see the file comment). Never throws. */
export async function reloadAdmin(current: AdminServer | null, api: RuntimeApi, next: AdminConfig | null): Promise<AdminReload> {
  if (next === null) {
    await current?.stop();
    return { admin: null, problem: null, rebound: false };
  }
  try {
    if (current !== null && current.sameAddress(next)) {
      await current.update(next);
      return { admin: current, problem: null, rebound: false };
    }
    // A new address: bind it first, so a failure leaves the running listener as it was.
    const admin = await AdminServer.start(api, next);
    await current?.stop();
    return { admin, problem: null, rebound: true };
  } catch (err) {
    return { admin: current, problem: (err as Error).message, rebound: false };
  }
}
