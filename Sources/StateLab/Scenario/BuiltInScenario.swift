/// Scenarios built into the binary, so `statelab compare` runs with no file
/// at hand. A test keeps this copy identical to Scenarios/quickstart.yaml.
public enum BuiltInScenario {
    public static let quickstart = #"""
# Quickstart: every strategy in its naive and its atomic mode, side by side.
#
# What it teaches: a naive read-then-write loses updates on every shared store
# (manager, shm, sqlite, redis), the atomic mode of the same store loses none,
# and "global" (a module-level variable per worker) loses nothing but leaves
# the workers disagreeing with each other.
#
# race_window_us: 100 makes each naive increment sleep 100 microseconds between
# its read and its write, so the losses show up every time even on a quiet
# machine. Real apps have no such sleep: set it to 0 to see the real race
# (see cost-of-correctness.yaml).
name: quickstart
description: "Naive vs atomic on every strategy: lost updates and divergence in one table"

app:
  workers: 4
  race_window_us: 100

load:
  increments: 2000
  concurrency: 32

runs:
  - strategy: global
    mode: naive
    expect: {divergent: true, lost: 0}
  - strategy: manager
    mode: naive
    expect: {lost: ">0"}
  - strategy: manager
    mode: atomic
    expect: {lost: 0}
  - strategy: shm
    mode: naive
    expect: {lost: ">0"}
  - strategy: shm
    mode: atomic
    expect: {lost: 0}
  - strategy: sqlite
    mode: naive
    expect: {lost: ">0"}
  - strategy: sqlite
    mode: atomic
    expect: {lost: 0}
  - strategy: redis
    mode: naive
    expect: {lost: ">0"}
  - strategy: redis
    mode: atomic
    expect: {lost: 0}

"""#
}
