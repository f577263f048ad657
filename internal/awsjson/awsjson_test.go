package awsjson

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func testConfig() aws.Config {
	return aws.Config{Region: "eu-west-1", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "token"}, nil
	})}
}

func TestCallSignsAndDecodes(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r, mustRead(r)
		w.Write([]byte(`{"SecretString":"sk_live_x"}`))
	}))
	defer srv.Close()
	c := &Client{Config: testConfig(), Service: "secretsmanager", TargetPrefix: "secretsmanager", Endpoint: srv.URL}
	var out struct{ SecretString string }
	if err := c.Call(context.Background(), "GetSecretValue", map[string]string{"SecretId": "arn:x"}, &out); err != nil {
		t.Fatal(err)
	}
	if out.SecretString != "sk_live_x" {
		t.Fatalf("out %+v", out)
	}
	auth := got.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(auth, "/eu-west-1/secretsmanager/aws4_request") {
		t.Fatalf("not SigV4-signed for the service: %q", auth)
	}
	if got.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || got.Header.Get("X-Amz-Security-Token") != "token" ||
		got.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		t.Fatalf("headers %v", got.Header)
	}
	var in map[string]string
	if json.Unmarshal(body, &in) != nil || in["SecretId"] != "arn:x" {
		t.Fatalf("body %s", body)
	}
}

func TestServiceErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		w.Write([]byte(`{"__type":"ResourceNotFoundException","Message":"no such secret"}`))
	}))
	defer srv.Close()
	c := &Client{Config: testConfig(), Service: "secretsmanager", TargetPrefix: "secretsmanager", Endpoint: srv.URL}
	err := c.Call(context.Background(), "GetSecretValue", map[string]string{}, nil)
	e, ok := err.(*Error)
	if !ok || e.Status != 400 || e.Type != "ResourceNotFoundException" || e.Message != "no such secret" {
		t.Fatalf("%#v", err)
	}
}

func mustRead(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	return b
}
