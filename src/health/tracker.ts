/**
 * Rise/fall thresholds for active health checks, as pure functions over an immutable
 * state: probes answer pass or fail for one check, this module decides when a run of
 * answers changes a server's state. No I/O, no timers, no clock.
 */

/**
 * One server's active health as the tracker sees it. Immutable: `recordResult` returns
 * a new object.
 */
export interface HealthState {
  /** Current verdict. */
  readonly up: boolean;
  /**
   * Consecutive results that disagree with `up` (failures while up, passes while down).
   * A result that agrees with `up` resets it to 0; reaching the threshold (`fall` while
   * up, `rise` while down) flips `up` and resets it to 0.
   */
  readonly streak: number;
}

/** What `recordResult` returns: the next state, and whether `up` flipped. */
export interface RecordOutcome {
  readonly state: HealthState;
  /** True exactly when `state.up` differs from the state passed in. */
  readonly changed: boolean;
}

const INITIAL_UP: HealthState = Object.freeze({ up: true, streak: 0 });
const INITIAL_DOWN: HealthState = Object.freeze({ up: false, streak: 0 });

/**
 * The state assumed before any check has answered (config `initial`). Returns a shared
 * frozen object; costs nothing.
 */
export function initialHealth(initial: 'up' | 'down'): HealthState {
  return initial === 'up' ? INITIAL_UP : INITIAL_DOWN;
}

/**
 * Applies one check result. `rise` consecutive passes bring a down server up; `fall`
 * consecutive failures take an up server down; a result that agrees with the current
 * state clears any run of disagreeing ones. Thresholds below 1 count as 1. Pure: the
 * input state is not modified.
 */
export function recordResult(state: HealthState, passed: boolean, rise: number, fall: number): RecordOutcome {
  if (passed === state.up) {
    // agrees with the current state: any run towards a change is broken
    return { state: state.streak === 0 ? state : initialHealth(state.up ? 'up' : 'down'), changed: false };
  }
  const streak = state.streak + 1;
  const threshold = Math.max(1, state.up ? fall : rise);
  if (streak >= threshold) return { state: initialHealth(passed ? 'up' : 'down'), changed: true };
  return { state: { up: state.up, streak }, changed: false };
}

/**
 * True while a result disagreeing with the state has been seen and the state has not
 * flipped yet: the checker then probes at `fastIntervalMs` to settle the question sooner.
 */
export function changing(state: HealthState): boolean {
  return state.streak > 0;
}
