{{/* The chart's name, shortened to the 63 characters Kubernetes allows. */}}
{{- define "kept-no-pack.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the objects: the release name, with the chart name when the
release name does not already contain it.
*/}}
{{- define "kept-no-pack.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kept-no-pack.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "kept-no-pack.labels" -}}
helm.sh/chart: {{ include "kept-no-pack.chart" . }}
{{ include "kept-no-pack.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the app's pods; draft connect finds pods by these. */}}
{{- define "kept-no-pack.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kept-no-pack.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The image: by digest when draft up pinned one, else by tag. */}}
{{- define "kept-no-pack.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* One probe, from .Values.probes and the timings in the given dict. */}}
{{- define "kept-no-pack.probe" -}}
{{- if eq .root.Values.probes.type "http" -}}
httpGet:
  path: {{ .root.Values.probes.path }}
  port: http
{{- else -}}
tcpSocket:
  port: http
{{- end }}
{{ toYaml .timings }}
{{- end }}
