/**
 * SIGINT/SIGTERM handling for training commands: the first signal asks the trainer to stop after the
 * current step (then it saves and exits 0); a second one abandons the step in flight (aborting its
 * generation) and saves the last complete step; a third exits at once (130).
 */

/** Signals for a trainer, and a function that removes the handlers. */
export interface StopSignals {
  stop: AbortSignal
  abandon: AbortSignal
  dispose(): void
}

/** Install the handlers. `log` receives one line per signal. */
export function installStopSignals(log: (msg: string) => void = (m) => process.stderr.write(m + '\n')): StopSignals {
  const stop = new AbortController()
  const abandon = new AbortController()
  let count = 0
  const onSignal = (sig: NodeJS.Signals) => {
    count++
    if (count === 1) {
      log(`\nvrft-native: ${sig} received: finishing the current step, then saving a checkpoint (send again to abandon the step)`)
      stop.abort()
    } else if (count === 2) {
      log(`vrft-native: ${sig} again: abandoning the current step and saving the last complete one`)
      abandon.abort()
    } else {
      log('vrft-native: exiting without saving')
      process.exit(130)
    }
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    stop: stop.signal,
    abandon: abandon.signal,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}

/** Resolves with the signal's name at the first SIGINT or SIGTERM (long-running servers: `serve`, `view`). */
export function waitForStopSignal(): Promise<'SIGINT' | 'SIGTERM'> {
  return new Promise((resolve) => {
    const stop = (sig: 'SIGINT' | 'SIGTERM') => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve(sig)
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
