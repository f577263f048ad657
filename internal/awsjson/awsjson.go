// Package awsjson calls AWS services that speak the JSON 1.1 protocol
// (Secrets Manager, EventBridge) with a SigV4-signed POST. The SDK's service
// clients would add megabytes to every function for two calls each; the
// signer and credentials are the SDK's own.
package awsjson

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Client calls one service.
type Client struct {
	Config aws.Config
	// Service is the signing name (secretsmanager, events).
	Service string
	// TargetPrefix prefixes the X-Amz-Target (secretsmanager, AWSEvents).
	TargetPrefix string
	// Endpoint overrides https://<service>.<region>.amazonaws.com.
	Endpoint string
	HTTP     *http.Client
}

// Error is an error answer of the service.
type Error struct {
	Status  int
	Type    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d): %s", e.Type, e.Status, e.Message) }

// Call invokes operation with in as the JSON body and decodes the answer
// into out (when not nil).
func (c *Client) Call(ctx context.Context, operation string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = fmt.Sprintf("https://%s.%s.amazonaws.com/", c.Service, c.Config.Region)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", c.TargetPrefix+"."+operation)
	creds, err := c.Config.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), c.Service, c.Config.Region, time.Now()); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
			Msg     string `json:"Message"`
		}
		_ = json.Unmarshal(data, &e)
		if e.Message == "" {
			e.Message = e.Msg
		}
		return &Error{Status: resp.StatusCode, Type: e.Type, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// SecretString reads a Secrets Manager secret's string value.
func SecretString(ctx context.Context, cfg aws.Config, secretID string) (string, error) {
	c := &Client{Config: cfg, Service: "secretsmanager", TargetPrefix: "secretsmanager"}
	var out struct {
		SecretString string `json:"SecretString"`
	}
	if err := c.Call(ctx, "GetSecretValue", map[string]string{"SecretId": secretID}, &out); err != nil {
		return "", fmt.Errorf("secret %s: %w", secretID, err)
	}
	if out.SecretString == "" {
		return "", fmt.Errorf("secret %s has no string value", secretID)
	}
	return out.SecretString, nil
}
