import diagnostics_channel from 'node:diagnostics_channel';
import type { VrrpStateName } from './state-machine.js';

/** A VRRP instance changed state, or its effective priority changed. */
export interface VrrpEventMessage {
  instance: string;
  /** 'state': from -> to; 'priority': tracking changed the priority (state unchanged). */
  kind: 'state' | 'priority';
  from: VrrpStateName;
  to: VrrpStateName;
  priority: number;
  /** Why, in words: "no advertisement from a master for 361.7 ms (Master_Down_Interval)". */
  reason: string;
  /** ms since epoch */
  at: number;
}

/** diagnostics_channel for VRRP changes: logs, metrics and the dashboard subscribe (as core/events.ts). */
export const vrrpChannel = diagnostics_channel.channel('fulcrum:vrrp');

/** Publishes one change. */
export function publishVrrpEvent(e: Omit<VrrpEventMessage, 'at'>): void {
  if (vrrpChannel.hasSubscribers) vrrpChannel.publish({ ...e, at: Date.now() });
}
