package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3Options tune an S3 store. The zero value is usable.
type S3Options struct {
	// MaxAttempts bounds the tries of one operation (default 5). Only
	// retriable errors are retried, and never past the caller's context.
	MaxAttempts int
	// RetryBase and RetryMax bound the exponential backoff between
	// attempts (defaults 50 ms and 2 s; full jitter).
	RetryBase, RetryMax time.Duration
	// AttemptTimeout bounds one HTTP attempt, body included (default 30 s);
	// the caller's context bounds the whole operation.
	AttemptTimeout time.Duration
	// MaxGetBytes bounds a read to the object's end (length < 0), so that
	// a huge object cannot exhaust memory (default 1 GiB).
	MaxGetBytes int64
	// ListPageSize is the keys asked per List request (0: the server's
	// default, 1000 on S3).
	ListPageSize int32
	// Credentials overrides the SDK's default chain (AWS_ACCESS_KEY_ID /
	// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE and the shared
	// credentials and config files, then container/instance roles).
	Credentials aws.CredentialsProvider
	// HTTPClient overrides the HTTP client (default: the SDK's, whose
	// dial and TLS handshake timeouts apply).
	HTTPClient *http.Client
	Metrics    *Metrics
	Logger     *slog.Logger
	// Sleep waits between attempts (tests inject it); the default waits on
	// a timer or the context, whichever ends first.
	Sleep func(ctx context.Context, d time.Duration) error
}

// S3Config is a parsed object-store URL:
// s3://BUCKET/PREFIX?endpoint=URL&region=REGION&path_style=true.
type S3Config struct {
	Bucket    string
	Prefix    string // "" or ending in "/"
	Endpoint  string // "" for AWS's endpoints
	Region    string // "" for the SDK's default (AWS_REGION, the config file), then us-east-1
	PathStyle bool
}

// ParseURL parses an object-store URL. Unknown query parameters are an
// error, so that a typo is not silently ignored.
func ParseURL(raw string) (S3Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return S3Config{}, fmt.Errorf("objstore: object-store URL %q: %w", raw, err)
	}
	if u.Scheme != "s3" {
		return S3Config{}, fmt.Errorf("objstore: object-store URL %q: scheme must be s3", raw)
	}
	if u.User != nil {
		return S3Config{}, fmt.Errorf("objstore: object-store URL %q: credentials do not belong in the URL (use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a credentials file)", raw)
	}
	c := S3Config{Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/")}
	if c.Bucket == "" {
		return S3Config{}, fmt.Errorf("objstore: object-store URL %q: no bucket", raw)
	}
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return S3Config{}, fmt.Errorf("objstore: object-store URL %q: endpoint %q is not an http(s) URL", raw, v)
			}
			c.Endpoint = v
		case "region":
			c.Region = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return S3Config{}, fmt.Errorf("objstore: object-store URL %q: path_style %q: %w", raw, v, err)
			}
			c.PathStyle = b
		default:
			return S3Config{}, fmt.Errorf("objstore: object-store URL %q: unknown parameter %q (known: endpoint, region, path_style)", raw, k)
		}
	}
	return c, nil
}

// S3 is a Store on an S3-compatible object store.
type S3 struct {
	cfg    S3Config
	client *s3.Client
	opts   S3Options
}

// OpenS3 opens the store of an object-store URL. It does not contact the
// store (credentials are resolved lazily by the SDK).
func OpenS3(ctx context.Context, rawURL string, opts S3Options) (*S3, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 50 * time.Millisecond
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 2 * time.Second
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 30 * time.Second
	}
	if opts.MaxGetBytes <= 0 {
		opts.MaxGetBytes = 1 << 30
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepCtx
	}
	logger := opts.Logger
	loads := []func(*config.LoadOptions) error{
		// The SDK's own warnings (e.g. a body not drained after a reset)
		// go to the store's logger at debug level: the store reports
		// what it gives up on.
		config.WithLogger(logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
			logger.Debug("objstore: aws sdk: "+fmt.Sprintf(format, v...), "classification", string(c))
		})),
		// The store retries itself (its own classes and backoff, the body
		// read included); the SDK's retryer would also consume a
		// client-wide retry quota that fails requests under sustained faults.
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		// S3-compatible servers do not all support the SDK's default
		// CRC32 trailing checksums; the object format carries CRC32C.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.Region != "" {
		loads = append(loads, config.WithRegion(cfg.Region))
	}
	if opts.Credentials != nil {
		loads = append(loads, config.WithCredentialsProvider(opts.Credentials))
	}
	if opts.HTTPClient != nil {
		loads = append(loads, config.WithHTTPClient(opts.HTTPClient))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("objstore: loading AWS configuration: %w: %w", ErrPermanent, err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.PathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &S3{cfg: cfg, client: client, opts: opts}, nil
}

// Config returns the parsed URL the store was opened with.
func (s *S3) Config() S3Config { return s.cfg }

func (s *S3) key(k string) string { return s.cfg.Prefix + k }

// do runs one operation: attempts of fn, each under AttemptTimeout, retried
// with backoff while the error is retriable, the attempts last and the
// caller's context lives.
func (s *S3) do(ctx context.Context, op, key string, fn func(ctx context.Context) (int, error)) error {
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.opts.AttemptTimeout)
		start := time.Now()
		var n int
		n, err = fn(actx)
		cancel()
		err = classify(ctx, err)
		s.opts.Metrics.attempt(op, err, time.Since(start))
		if err == nil {
			s.opts.Metrics.addBytes(op, n)
			return nil
		}
		if !errors.Is(err, ErrRetriable) || attempt >= s.opts.MaxAttempts || ctx.Err() != nil {
			break
		}
		d := backoff(s.opts.RetryBase, s.opts.RetryMax, attempt)
		s.opts.Logger.Debug("objstore: retrying", "op", op, "key", key, "attempt", attempt, "backoff", d, "err", err)
		if serr := s.opts.Sleep(ctx, d); serr != nil {
			err = fmt.Errorf("%w: %w (after %w)", ErrRetriable, serr, err)
			break
		}
	}
	err = fmt.Errorf("objstore: %s %s/%s: %w", op, s.cfg.Bucket, s.key(key), err)
	s.opts.Metrics.failed(op, err)
	if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrOutOfRange) {
		s.opts.Logger.Warn("objstore: request failed", "op", op, "key", key, "class", Class(err), "err", err)
	}
	return err
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	return s.do(ctx, "put", key, func(ctx context.Context) (int, error) {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(s.cfg.Bucket),
			Key:           aws.String(s.key(key)),
			Body:          bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))),
		})
		return len(data), err
	})
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	if off < 0 {
		return nil, fmt.Errorf("objstore: get %s: negative offset %d: %w", key, off, ErrPermanent)
	}
	if length == 0 {
		return []byte{}, nil
	}
	var out []byte
	err := s.do(ctx, "get", key, func(ctx context.Context) (int, error) {
		in := &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.key(key))}
		switch {
		case length > 0:
			in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
		case off > 0:
			in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
		}
		resp, err := s.client.GetObject(ctx, in)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		limit := length
		if limit < 0 {
			limit = s.opts.MaxGetBytes
		}
		if cl := aws.ToInt64(resp.ContentLength); cl > limit {
			if length < 0 {
				return 0, fmt.Errorf("%w: object of %d bytes from %d exceeds the read bound %d", ErrPermanent, cl, off, limit)
			}
			return 0, fmt.Errorf("%w: server sent %d bytes for a range of %d", ErrPermanent, cl, length)
		}
		b, err := readBody(resp.Body, resp.ContentLength, limit)
		if err != nil {
			return 0, err
		}
		if length > 0 && int64(len(b)) < length {
			return 0, fmt.Errorf("%w: %w: %d bytes at %d, object ends after %d", ErrOutOfRange, ErrPermanent, length, off, len(b))
		}
		out = b
		return len(b), nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readBody reads a GET's body of at most limit bytes (Content-Length
// contentLength, nil if unknown, already checked against limit) into a
// slice whose capacity is its length: the read cache bounds what it holds
// by lengths.
func readBody(body io.Reader, contentLength *int64, limit int64) ([]byte, error) {
	if contentLength != nil && *contentLength >= 0 {
		b := make([]byte, *contentLength)
		if n, err := io.ReadFull(body, b); err != nil {
			return nil, fmt.Errorf("%w: reading the body: %d bytes, Content-Length %d: %w", ErrRetriable, n, *contentLength, err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body: %w", ErrRetriable, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrPermanent, limit)
	}
	return append(make([]byte, 0, len(b)), b...), nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	err := s.do(ctx, "delete", key, func(ctx context.Context) (int, error) {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.key(key))})
		return 0, err
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// List implements Store. Each page is one operation with its own retries.
func (s *S3) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	var token *string
	for {
		var page *s3.ListObjectsV2Output
		err := s.do(ctx, "list", prefix, func(ctx context.Context) (int, error) {
			var err error
			in := &s3.ListObjectsV2Input{
				Bucket:            aws.String(s.cfg.Bucket),
				Prefix:            aws.String(s.key(prefix)),
				ContinuationToken: token,
			}
			if s.opts.ListPageSize > 0 {
				in.MaxKeys = aws.Int32(s.opts.ListPageSize)
			}
			page, err = s.client.ListObjectsV2(ctx, in)
			return 0, err
		})
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if !strings.HasPrefix(k, s.cfg.Prefix) {
				continue
			}
			if err := fn(ObjectInfo{Key: k[len(s.cfg.Prefix):], Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
		if !aws.ToBool(page.IsTruncated) || page.NextContinuationToken == nil {
			return nil
		}
		token = page.NextContinuationToken
	}
}

// classify wraps err with its class. ctx is the operation's (caller's)
// context: an attempt's own timeout is retriable, and so is the caller's
// deadline (the caller decides whether to try again later).
func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	for _, c := range []error{ErrNotFound, ErrRetriable, ErrPermanent} {
		if errors.Is(err, c) {
			return err
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w: %w", ErrRetriable, ctx.Err(), err)
		}
		return fmt.Errorf("%w: attempt timed out: %w", ErrRetriable, err)
	}
	var code string
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch code {
	case "NoSuchKey":
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case "NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidBucketName",
		"AllAccessDisabled", "AccountProblem", "InvalidToken", "ExpiredToken", "InvalidSecurity":
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	case "InvalidRange":
		return fmt.Errorf("%w: %w: %w", ErrOutOfRange, ErrPermanent, err)
	case "SlowDown", "Throttling", "ThrottlingException", "RequestThrottled", "RequestTimeout",
		"InternalError", "ServiceUnavailable", "RequestLimitExceeded", "TooManyRequests":
		return fmt.Errorf("%w: %w", ErrRetriable, err)
	}
	switch {
	case status == http.StatusNotFound && (code == "" || code == "NotFound"):
		// A 404 without an error code (HEAD, some servers' GET) names the
		// key. A 404 with another code names something else (versitygw
		// answers an unknown access key with 404 XAdminUserNotFound).
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case status == http.StatusRequestedRangeNotSatisfiable:
		return fmt.Errorf("%w: %w: %w", ErrOutOfRange, ErrPermanent, err)
	case status >= 500, status == http.StatusTooManyRequests, status == http.StatusRequestTimeout:
		return fmt.Errorf("%w: %w", ErrRetriable, err)
	case status >= 400:
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	var se *smithyhttp.RequestSendError
	var ne net.Error
	if errors.As(err, &se) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%w: %w", ErrRetriable, err)
	}
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		// A response body cut short or garbled in transit (a complete but
		// malformed one is a server bug, also bounded by the attempts).
		return fmt.Errorf("%w: %w", ErrRetriable, err)
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// backoff is the wait before attempt+1: full jitter over an exponential
// bound.
func backoff(base, maxD time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 30)
	if d <= 0 || d > maxD {
		d = maxD
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
