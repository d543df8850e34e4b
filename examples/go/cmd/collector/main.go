// Command collector is a corrbus collector written in Go: it subscribes to
// tasks over gRPC on the broker's Unix socket and answers each task with one
// final result in the task's correlation.
//
//	collector --socket PATH --name NAME [--pattern PATTERN] [--hold]
//
// It prints JSON lines on stdout: {"type":"ready"} once subscribed,
// {"type":"task",...} per task, {"type":"answered",...} per answer, and
// {"type":"error","code":N,"message":"..."} before exiting 1 on an RPC error.
// SIGTERM/SIGINT end it with exit code 0.
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
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	corrbusv1 "corrbus.example/collector/gen/corrbus/v1"
)

const language = "go"

// publishTimeout bounds one Publish call so a stuck broker cannot hang a task.
const publishTimeout = 10 * time.Second

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
}

type answeredLine struct {
	Type          string `json:"type"`
	CorrelationID string `json:"correlationId"`
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
	flag.Parse()
	if *socket == "" || *name == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: collector --socket PATH --name NAME [--pattern PATTERN] [--hold]")
		return 2
	}
	socketPath, err := filepath.Abs(*socket)
	if err != nil {
		fmt.Fprintf(os.Stderr, "collector: socket path: %v\n", err)
		return 2
	}

	// SIGTERM/SIGINT cancel ctx; the stream then ends with codes.Canceled and
	// we exit 0.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// "unix://" + an absolute path gives "unix:///abs/path", which grpc-go's
	// built-in unix resolver dials directly (cleartext HTTP/2, authority "localhost").
	conn, err := grpc.NewClient("unix://"+socketPath, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		printLine(errorLine{Type: "error", Code: uint32(codes.InvalidArgument), Message: err.Error()})
		return 1
	}
	defer conn.Close()
	client := corrbusv1.NewCorrelationServiceClient(conn)

	c := &collector{client: client, name: *name, pid: os.Getpid(), hold: *hold, sequences: map[string]uint64{}}
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
	client corrbusv1.CorrelationServiceClient
	name   string
	pid    int
	hold   bool
	// sequences is the last sequence_number this process used per correlation.
	sequences map[string]uint64
}

// serve subscribes and handles tasks until the stream fails or ctx ends. It
// always returns a non-nil error.
func (c *collector) serve(ctx context.Context, pattern string) error {
	stream, err := c.client.Subscribe(ctx, &corrbusv1.SubscribeRequest{
		Patterns:            []string{pattern},
		SubscriberName:      c.name,
		SubscriberProcessId: uint32(c.pid),
	})
	if err != nil {
		return err
	}
	ready := false
	for {
		response, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			// The broker ended the stream without a status error (e.g. shutting down).
			return status.Error(codes.Unavailable, "subscription ended by the broker")
		}
		if err != nil {
			return err
		}
		if !ready {
			if !response.GetSubscribed() {
				return status.Error(codes.Internal, "first Subscribe response did not confirm the subscription")
			}
			ready = true
			printLine(readyLine{Type: "ready"})
		}
		for _, event := range response.GetEvents() {
			if err := c.handle(ctx, event); err != nil {
				return err
			}
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
	printLine(taskLine{Type: "task", CorrelationID: meta.GetCorrelationId(), Stage: stage})
	if c.hold {
		return nil
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
	publishCtx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	_, err = c.client.Publish(publishCtx, &corrbusv1.PublishRequest{Envelope: &corrbusv1.EventEnvelope{
		Topic:               "events.collector." + stage + ".result",
		Payload:             payload,
		ContentType:         "application/json",
		Timestamp:           timestamppb.Now(),
		PublisherProcessId:  uint32(c.pid),
		CorrelationMetadata: answer,
	}})
	if err != nil {
		st := status.Convert(err)
		return status.Errorf(st.Code(), "publish: %s", st.Message())
	}
	printLine(answeredLine{Type: "answered", CorrelationID: meta.GetCorrelationId()})
	return nil
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
