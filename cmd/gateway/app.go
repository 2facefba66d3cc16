package main

import (
	"context"
	"errors"
	"sync"
)

// app holds what serve started: background goroutines and the steps that
// stop the parts, so that the start order in serve is the one place that
// also defines the stop order (the reverse of it).
type app struct {
	bg     context.Context // ends when the background is stopped
	cancel context.CancelFunc
	wg     sync.WaitGroup
	steps  []func() error // stop steps, in start order
}

// newApp returns an app whose background context is ctx's values without
// its cancellation: the background stops when stop reaches it, not when ctx
// ends, so that it is stopped in order.
func newApp(ctx context.Context) *app {
	a := &app{}
	a.bg, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return a
}

// onStop adds a step that stop runs, after the steps added later.
func (a *app) onStop(f func() error) { a.steps = append(a.steps, f) }

// background runs f in a goroutine until the background is stopped.
func (a *app) background(f func(ctx context.Context)) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f(a.bg)
	}()
}

// stopBackground adds the step that stops every background goroutine and
// waits for them: parts added before it are closed only after that.
func (a *app) stopBackground() {
	a.onStop(func() error {
		a.cancel()
		a.wg.Wait()
		return nil
	})
}

// stop runs the stop steps in reverse order and joins their errors. It
// stops the background at the end anyway (when no step did).
func (a *app) stop() error {
	var errs []error
	for i := len(a.steps) - 1; i >= 0; i-- {
		errs = append(errs, a.steps[i]())
	}
	a.cancel()
	a.wg.Wait()
	return errors.Join(errs...)
}
