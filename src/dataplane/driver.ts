/**
 * The seam between Fulcrum and the kernel's rules: a driver applies one rendered
 * transaction atomically and lists what the kernel holds in Fulcrum's tables. NftDriver
 * (nft-driver.ts) runs nft; FakeDriver (fake-driver.ts) stands in for unit tests.
 */
import { FulcrumError } from '../core/errors.js';
import type { LiveCounter } from './counters.js';
import type { NftDocument, NftObject } from './render.js';

/** Applies transactions and lists Fulcrum's live tables. */
export interface DataplaneDriver {
  /**
   * Applies `doc` as one transaction. On failure it rejects with a FulcrumError
   * (FULCRUM_ERR_DATAPLANE) saying why, and the kernel keeps the rules it had.
   */
  apply(doc: NftDocument): Promise<void>;
  /** The objects of Fulcrum's tables as `nft -j list table` prints them (no metainfo); [] when there are none. */
  list(): Promise<NftObject[]>;
  /** The named counters of Fulcrum's tables, with their packets and bytes. */
  counters(): Promise<LiveCounter[]>;
}

/** A FulcrumError for the data plane. */
export function dataplaneError(message: string, cause?: unknown): FulcrumError {
  return new FulcrumError('FULCRUM_ERR_DATAPLANE', message, cause === undefined ? undefined : { cause });
}
