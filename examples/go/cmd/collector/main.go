// Command collector is a corrbus collector written in Go: it subscribes to
// tasks over gRPC on the broker's Unix socket and answers each task with one
// final result in the task's correlation.
//
//	collector --socket PATH --name NAME [--pattern PATTERN] [--hold]
//	          [--work-ms MS] [--max-reconnects N]
//
// It prints JSON lines on stdout: {"type":"ready"} once subscribed,
// {"type":"task",...} per task, {"type":"answered",...} per answer,
// {"type":"retry",...} per publish attempt retried, {"type":"reconnect",...}
// per re-subscription attempt and {"type":"resumed",...} once subscribed
// again, and {"type":"error","code":N,"message":"..."} before exiting 1 when
// the broker refuses a request or --max-reconnects attempts in a row failed.
// SIGTERM/SIGINT end it with exit code 0.
//
// It outlives broker crashes and restarts: any connection loss is retried
// with backoff (100 ms doubling to 5 s), the subscription resumes by replay
// from the event after the last one seen (nothing missed, nothing twice), and
// each answer is published once (publishOnce).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	corrbusv1 "corrbus.example/collector/gen/corrbus/v1"
)

const language = "go"

// callTimeout bounds one unary call so a stuck broker cannot hang a task.
const callTimeout = 10 * time.Second

// out writes one JSON object per line; os.Stdout is unbuffered, so each line
// reaches the reader as soon as it is written.
var out = json.NewEncoder(os.Stdout)

func printLine(line any) {
	if err := out.Encode(line); err != nil {
		fmt.Fprintf(os.Stderr, "collector: writing stdout: %v\n", err)
	}
}

type readyLine struct {
	Type string `json:"type"`
}

type taskLine struct {
	Type          string `json:"type"`
	CorrelationID string `json:"correlationId"`
	Stage         string `json:"stage"`
	EventID       string `json:"eventId"`
}

type answeredLine struct {
	Type          string `json:"type"`
	CorrelationID string `json:"correlationId"`
	AlreadyStored bool   `json:"alreadyStored"`
	Retries       int    `json:"retries"`
}

// attemptLine is a retried publish ("retry") or re-subscription ("reconnect").
type attemptLine struct {
	Type          string `json:"type"`
	CorrelationID string `json:"correlationId,omitempty"`
	Attempt       int    `json:"attempt"`
	Code          uint32 `json:"code"`
	Message       string `json:"message"`
}

type resumedLine struct {
	Type        string `json:"type"`
	FromEventID string `json:"fromEventId"`
}

type errorLine struct {
	Type    string `json:"type"`
	Code    uint32 `json:"code"`
	Message string `json:"message"`
}

// resultPayload is the JSON body of a result event.
type resultPayload struct {
	Collector string `json:"collector"`
	Language  string `json:"language"`
	Stage     string `json:"stage"`
	Pid       int    `json:"pid"`
}

func main() {
	os.Exit(run())
}

func run() int {
	socket := flag.String("socket", "", "path of the broker's Unix socket (required)")
	name := flag.String("name", "", "subscriber name / source_process of the answers (required)")
	pattern := flag.String("pattern", "control.collector.task.#", "topic pattern of the tasks")
	hold := flag.Bool("hold", false, "report tasks but never answer them")
	workMs := flag.Int("work-ms", 0, "time each task's work takes before the answer")
	maxReconnects := flag.Int("max-reconnects", 0, "give up after N failed attempts in a row (0: never)")
	flag.Parse()
	if *socket == "" || *name == "" || flag.NArg() > 0 || *workMs < 0 || *maxReconnects < 0 {
		fmt.Fprintln(os.Stderr, "usage: collector --socket PATH --name NAME [--pattern PATTERN] [--hold] [--work-ms MS] [--max-reconnects N]")
		return 2
	}
	socketPath, err := filepath.Abs(*socket)
	if err != nil {
		fmt.Fprintf(os.Stderr, "collector: socket path: %v\n", err)
		return 2
	}

	// SIGTERM/SIGINT cancel ctx: every call and wait ends, and we exit 0.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// "unix://" + an absolute path gives "unix:///abs/path", which grpc-go's
	// built-in unix resolver dials directly (cleartext HTTP/2, authority "localhost").
	// The channel's own reconnect backoff (default 1 s growing to 120 s) follows
	// the collector's policy, so a call retried after a restart finds it connecting.
	conn, err := grpc.NewClient("unix://"+socketPath,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: firstDelay, Multiplier: 2, Jitter: 0.2, MaxDelay: maxDelay},
			MinConnectTimeout: 5 * time.Second,
		}))
	if err != nil {
		printLine(errorLine{Type: "error", Code: uint32(codes.InvalidArgument), Message: err.Error()})
		return 1
	}
	defer conn.Close()
	client := corrbusv1.NewCorrelationServiceClient(conn)

	c := &collector{
		client:        client,
		name:          *name,
		pid:           os.Getpid(),
		hold:          *hold,
		work:          time.Duration(*workMs) * time.Millisecond,
		maxReconnects: *maxReconnects,
		sequences:     map[string]uint64{},
	}
	err = c.serve(ctx, *pattern)
	if ctx.Err() != nil {
		// Stopped by a signal: a clean exit whatever the stream said.
		return 0
	}
	st := status.Convert(err)
	printLine(errorLine{Type: "error", Code: uint32(st.Code()), Message: st.Message()})
	return 1
}

type collector struct {
	client        corrbusv1.CorrelationServiceClient
	name          string
	pid           int
	hold          bool
	work          time.Duration
	maxReconnects int
	// sequences is the last sequence_number this process used per correlation.
	sequences map[string]uint64
}

// serve subscribes and handles tasks until ctx ends, the broker refuses a
// request, or the re-subscription attempts run out. It always returns a
// non-nil error.
func (c *collector) serve(ctx context.Context, pattern string) error {
	retry := retryBackoff{maxAttempts: c.maxReconnects}
	// seen is the newest event id handled (before any, the head at the first subscribe).
	var seen uint64
	subscribed := false
	for {
		request := &corrbusv1.SubscribeRequest{
			Patterns:            []string{pattern},
			SubscriberName:      c.name,
			SubscriberProcessId: uint32(c.pid),
		}
		if subscribed {
			// Replay what was stored while we were away, then go on live.
			request.Start = &corrbusv1.SubscribeRequest_FromEventId{FromEventId: seen + 1}
		}
		err := c.follow(ctx, request, &seen, &subscribed, &retry)
		var failed taskFailed
		if errors.As(err, &failed) {
			return failed.err
		}
		if ctx.Err() != nil || !retryable(status.Code(err)) {
			return err
		}
		delay, ok := retry.next()
		if !ok {
			return err
		}
		st := status.Convert(err)
		printLine(attemptLine{Type: "reconnect", Attempt: retry.attempts, Code: uint32(st.Code()), Message: st.Message()})
		if !sleep(ctx, delay) {
			return ctx.Err()
		}
	}
}

// follow runs one subscription until its stream fails (always a non-nil error),
// advancing seen past each event handled.
func (c *collector) follow(ctx context.Context, request *corrbusv1.SubscribeRequest, seen *uint64, subscribed *bool, retry *retryBackoff) error {
	stream, err := c.client.Subscribe(ctx, request)
	if err != nil {
		return err
	}
	for {
		response, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			// The broker ended the stream without a status error (e.g. shutting down).
			return status.Error(codes.Unavailable, "subscription ended by the broker")
		}
		if err != nil {
			return err
		}
		if response.GetSubscribed() {
			if *subscribed {
				printLine(resumedLine{Type: "resumed", FromEventID: strconv.FormatUint(request.GetFromEventId(), 10)})
			} else {
				*subscribed = true
				*seen = response.GetHeadEventId()
				printLine(readyLine{Type: "ready"})
			}
			retry.reset()
		}
		for _, event := range response.GetEvents() {
			if event.GetEventId() <= *seen {
				continue // handled before the connection was lost
			}
			if err := c.handle(ctx, event); err != nil {
				return taskFailed{err}
			}
			*seen = event.GetEventId()
		}
	}
}

// handle reports one task and, unless holding, answers it with one final result.
func (c *collector) handle(ctx context.Context, task *corrbusv1.EventEnvelope) error {
	meta := task.GetCorrelationMetadata()
	if meta == nil {
		return nil // a plain event: nothing to answer
	}
	stage := meta.GetWorkflowStage()
	printLine(taskLine{Type: "task", CorrelationID: meta.GetCorrelationId(), Stage: stage, EventID: strconv.FormatUint(task.GetEventId(), 10)})
	if c.hold {
		return nil
	}
	if !sleep(ctx, c.work) { // the task's work
		return ctx.Err()
	}

	payload, err := json.Marshal(resultPayload{Collector: c.name, Language: language, Stage: stage, Pid: c.pid})
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	c.sequences[meta.GetCorrelationId()]++
	answer := &corrbusv1.CorrelationMetadata{
		CorrelationId:       meta.GetCorrelationId(),
		ParentCorrelationId: meta.ParentCorrelationId, // nil (unset) for a root step
		RootCorrelationId:   meta.GetRootCorrelationId(),
		SequenceNumber:      c.sequences[meta.GetCorrelationId()],
		WorkflowStage:       stage,
		SourceProcess:       c.name,
		CorrelationTags:     copyTags(meta.GetCorrelationTags()),
		StartedAt:           meta.GetStartedAt(),
		Final:               true,
	}
	envelope := &corrbusv1.EventEnvelope{
		Topic:               "events.collector." + stage + ".result",
		Payload:             payload,
		ContentType:         "application/json",
		Timestamp:           timestamppb.Now(),
		PublisherProcessId:  uint32(c.pid),
		CorrelationMetadata: answer,
	}
	alreadyStored, retries, err := c.publishOnce(ctx, envelope)
	if err != nil {
		st := status.Convert(err)
		return status.Errorf(st.Code(), "publish: %s", st.Message())
	}
	printLine(answeredLine{Type: "answered", CorrelationID: meta.GetCorrelationId(), AlreadyStored: alreadyStored, Retries: retries})
	return nil
}

// publishOnce publishes a correlated envelope exactly once across broker
// crashes and restarts, answering whether an earlier attempt had stored it.
//
// A publish whose connection is lost has an unknown outcome: the broker may
// have stored the event and died before answering. So the same envelope
// (same correlation_id, source_process, sequence_number) is kept, and once
// the broker answers again GetWorkflow tells whether this publisher's
// last_sequence_number in that correlation already covers it: then nothing is
// sent again. On NOT_FOUND (the correlation no longer tracked) it is sent
// again: at-least-once in that corner. Holds while one process publishes
// under its name and numbers its events 1, 2, 3... per correlation.
func (c *collector) publishOnce(ctx context.Context, envelope *corrbusv1.EventEnvelope) (alreadyStored bool, retries int, err error) {
	meta := envelope.GetCorrelationMetadata()
	retry := retryBackoff{}
	waitOrFail := func(err error) error {
		code := status.Code(err)
		// RESOURCE_EXHAUSTED on a publish is the event over a limit: no retry makes it fit.
		if ctx.Err() != nil || !retryable(code) || code == codes.ResourceExhausted {
			return err
		}
		delay, _ := retry.next()
		st := status.Convert(err)
		printLine(attemptLine{Type: "retry", CorrelationID: meta.GetCorrelationId(), Attempt: retry.attempts, Code: uint32(st.Code()), Message: st.Message()})
		if !sleep(ctx, delay) {
			return ctx.Err()
		}
		return nil
	}
	for {
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		_, err := c.client.Publish(callCtx, &corrbusv1.PublishRequest{Envelope: envelope})
		cancel()
		if err == nil {
			return false, retry.attempts, nil
		}
		if err := waitOrFail(err); err != nil {
			return false, retry.attempts, err
		}
		// The outcome is unknown: ask the broker (as soon as it answers) whether it has the event.
		for {
			callCtx, cancel := context.WithTimeout(ctx, callTimeout)
			response, err := c.client.GetWorkflow(callCtx, &corrbusv1.GetWorkflowRequest{CorrelationId: meta.GetCorrelationId()})
			cancel()
			if err == nil {
				for _, participant := range response.GetWorkflow().GetParticipants() {
					if participant.GetSourceProcess() == meta.GetSourceProcess() && participant.GetLastSequenceNumber() >= meta.GetSequenceNumber() {
						return true, retry.attempts, nil
					}
				}
				break
			}
			if status.Code(err) == codes.NotFound {
				break
			}
			if err := waitOrFail(err); err != nil {
				return false, retry.attempts, err
			}
		}
	}
}

// Backoff policy: 100 ms doubling to 5 s.
const (
	firstDelay = 100 * time.Millisecond
	maxDelay   = 5 * time.Second
)

// retryBackoff counts failed attempts in a row and gives the wait before the
// next one; maxAttempts 0 never gives up (a broker replaying a long journal
// must not end its collectors; the wait is capped instead).
type retryBackoff struct {
	attempts    int
	maxAttempts int
}

func (b *retryBackoff) next() (time.Duration, bool) {
	if b.maxAttempts > 0 && b.attempts >= b.maxAttempts {
		return 0, false
	}
	delay := maxDelay
	if b.attempts < 6 {
		delay = min(firstDelay<<b.attempts, maxDelay)
	}
	b.attempts++
	return delay, true
}

func (b *retryBackoff) reset() { b.attempts = 0 }

// retryable reports whether a call that failed with code may succeed when
// made again: everything but the codes that say the request itself is wrong
// or not allowed. UNAVAILABLE (no socket, nobody listening, connection lost,
// broker shutting down), CANCELLED (a stream reset under us) and
// INTERNAL/UNKNOWN (a transport that broke midway) are retried.
func retryable(code codes.Code) bool {
	switch code {
	case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented,
		codes.FailedPrecondition, codes.OutOfRange, codes.NotFound, codes.AlreadyExists:
		return false
	}
	return true
}

// taskFailed is a task that could not be answered (a publish the broker
// refused), which serve must not take for a lost subscription.
type taskFailed struct{ err error }

func (t taskFailed) Error() string { return t.err.Error() }

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func copyTags(tags map[string]string) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	copied := make(map[string]string, len(tags))
	for key, value := range tags {
		copied[key] = value
	}
	return copied
}
