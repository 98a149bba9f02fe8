package streams

type queryConfig struct{}
