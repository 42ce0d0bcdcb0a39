package apiserver

import "context"

// streamLocal sends this node's own records of one of its report logs
// (the denied-flow log, the flow log): what snapshot holds, then, when
// follow is not nil, the records it hears that keep selects (keep may
// complete them first) until ctx ends; each converted by convert. It
// follows before it takes the snapshot, so that nothing between the two
// is missed (a record may come twice, the newer last).
func streamLocal[C, T any](ctx context.Context, follow func() (<-chan C, func()), snapshot func() []C, keep func(*C) bool,
	convert func(C) *T, send func(*T) error) error {
	var followed <-chan C
	if follow != nil {
		ch, cancel := follow()
		defer cancel()
		followed = ch
	}
	for _, r := range snapshot() {
		if err := send(convert(r)); err != nil {
			return err
		}
	}
	if followed == nil {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-followed:
			if !keep(&r) {
				continue
			}
			if err := send(convert(r)); err != nil {
				return err
			}
		}
	}
}
