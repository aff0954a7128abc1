/**
 * systemd's readiness protocol (sd_notify(3)) for a service run with Type=notify: READY=1
 * once every listener is bound, RELOADING=1 and READY=1 around a reload, STOPPING=1 on
 * the way out, STATUS= lines, and WATCHDOG=1 at half the WatchdogSec interval when
 * systemd asks for it. Does nothing outside systemd (no NOTIFY_SOCKET). The datagram is
 * sent by the C addon (Node has no Unix datagram sockets); without the addon, one log
 * line says readiness cannot be reported.
 */
import { log } from '../core/log.js';
import { nativeAddon, nativeAddonMissing } from '../io/addon.js';

let warned = false;

/** Sends `fields` (KEY=VALUE lines) to systemd; false when there is no systemd to tell, or sending failed. */
export function sdNotify(...fields: string[]): boolean {
  const socket = process.env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') return false;
  const addon = nativeAddon();
  if (addon === null) {
    if (!warned) log().warn(`NOTIFY_SOCKET is set but the native addon is not there (${nativeAddonMissing()}): systemd will not hear that Fulcrum is ready`);
    warned = true;
    return false;
  }
  const r = addon.notify(socket, fields.join('\n'));
  if (r !== 0) log().warn(`sd_notify to ${socket} failed (errno ${-r})`);
  return r === 0;
}

let watchdog: NodeJS.Timeout | null = null;

/**
 * Starts sending WATCHDOG=1 at half the interval systemd gave (WATCHDOG_USEC), when the
 * watchdog is on for this process (WATCHDOG_PID unset or ours). The timer does not keep
 * the process alive.
 */
export function startWatchdog(): void {
  const usec = Number(process.env.WATCHDOG_USEC);
  const pid = process.env.WATCHDOG_PID;
  if (watchdog !== null || !(usec > 0) || (pid !== undefined && pid !== '' && Number(pid) !== process.pid)) return;
  const every = Math.max(1, Math.floor(usec / 2000));
  watchdog = setInterval(() => sdNotify('WATCHDOG=1'), every);
  watchdog.unref();
}

/** Stops the watchdog pings (the process is stopping). */
export function stopWatchdog(): void {
  if (watchdog !== null) clearInterval(watchdog);
  watchdog = null;
}
