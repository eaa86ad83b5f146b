package server

// HoldAfterRuns makes a server leave the actions after runs queued,
// unworked, so that a test can stop it between a run's end and the action.
func HoldAfterRuns(cfg *Config) { cfg.holdAfterRuns = true }
