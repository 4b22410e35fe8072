package testenv

import (
	"reflect"
	"testing"
)

func TestFromRefs(t *testing.T) {
	df := `# syntax=docker/dockerfile:1
ARG GO=1.26
FROM golang:1.26 AS build
RUN go build
FROM --platform=linux/amd64 build AS test
from node:20-slim as assets
FROM golang:${GO}
FROM scratch
COPY --from=build /app /app
FROM golang:1.26
FROM eclipse-temurin:21-jre
`
	got := FromRefs(df)
	want := []string{"golang:1.26", "node:20-slim", "eclipse-temurin:21-jre"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromRefs = %q, want %q", got, want)
	}
}
