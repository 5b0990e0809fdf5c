package objstore

// WithPageSize makes List ask for n keys per request, so tests reach a
// second page without storing a thousand objects.
func WithPageSize(n int) Option {
	return func(o *options) { o.pageSize = n }
}
