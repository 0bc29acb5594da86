{{/* Chart name, overridable. */}}
{{- define "ctr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-name prefix, cut to 63 characters for DNS labels. */}}
{{- define "ctr.fullname" -}}
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

{{/* Name of one component's resources: <fullname>-<component>. */}}
{{- define "ctr.componentName" -}}
{{- printf "%s-%s" (include "ctr.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels; call with (dict "root" $ "component" "producer"). */}}
{{- define "ctr.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ctr.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: ctr
{{- end }}

{{/* Selector labels; call with (dict "root" $ "component" "producer"). */}}
{{- define "ctr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ctr.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Image reference: a digest wins over a tag; the tag defaults to appVersion. Call with an image dict and $. */}}
{{- define "ctr.image" -}}
{{- $img := .image -}}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .root.Chart.AppVersion $img.tag) }}
{{- end }}
{{- end }}

{{/* Kafka bootstrap servers: the in-release broker or the external cluster. */}}
{{- define "ctr.kafkaBootstrap" -}}
{{- if .Values.kafka.deploy }}
{{- printf "%s:9092" (include "ctr.componentName" (dict "root" . "component" "kafka")) }}
{{- else }}
{{- required "kafka.bootstrapServers is required when kafka.deploy is false" .Values.kafka.bootstrapServers }}
{{- end }}
{{- end }}

{{/* PostgreSQL host. */}}
{{- define "ctr.postgresHost" -}}
{{- if .Values.postgresql.deploy }}
{{- include "ctr.componentName" (dict "root" . "component" "postgresql") }}
{{- else }}
{{- required "postgresql.host is required when postgresql.deploy is false" .Values.postgresql.host }}
{{- end }}
{{- end }}

{{/* Secret holding the PostgreSQL password (key: password). */}}
{{- define "ctr.postgresSecret" -}}
{{- default (include "ctr.componentName" (dict "root" . "component" "postgresql")) .Values.postgresql.existingSecret }}
{{- end }}

{{/* Base time of the run: the value, or the install time rounded down to the window. */}}
{{- define "ctr.baseTimeNs" -}}
{{- if .Values.run.baseTimeNs }}
{{- .Values.run.baseTimeNs | int64 }}
{{- else }}
{{- $w := .Values.run.windowSeconds | int64 }}
{{- mul (div (now | unixEpoch) $w) $w 1000000000 }}
{{- end }}
{{- end }}

{{/* Environment shared by ctrbench containers: the mounted run config and the database password. */}}
{{- define "ctr.env" -}}
- name: CTR_CONFIG_FILE
  value: /etc/ctrbench/run.yaml
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "ctr.postgresSecret" . }}
      key: password
{{- end }}

{{/* Volume mounts shared by ctrbench containers (config, and /tmp for a read-only root). */}}
{{- define "ctr.volumeMounts" -}}
- name: run-config
  mountPath: /etc/ctrbench
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "ctr.volumes" -}}
- name: run-config
  configMap:
    name: {{ include "ctr.componentName" (dict "root" . "component" "config") }}
- name: tmp
  emptyDir: {}
{{- end }}

{{/*
Rules across values, which values.schema.json cannot express; the same rules the services apply
(ctrbench.settings and ctrbench.preflight), so a release that installs is a run that starts.
*/}}
{{- define "ctr.validate" -}}
{{- $r := .Values.run }}
{{- $w := $r.windowSeconds | int64 }}
{{- $d := $r.durationSeconds | float64 }}
{{- if ne (mod ($d | int64) $w) 0 | or (ne $d (($d | int64) | float64)) }}
{{- fail (printf "run.durationSeconds=%v is not a whole number of windows (run.windowSeconds=%d): the last window would be cut short; use a multiple of %d" $r.durationSeconds $w $w) }}
{{- end }}
{{- if gt ($r.watermarkDelayMs | int64) (mul $w 1000) }}
{{- fail (printf "run.watermarkDelayMs=%v is larger than the window (run.windowSeconds=%d): it must be at most %d" $r.watermarkDelayMs $w (mul $w 1000)) }}
{{- end }}
{{- end }}

{{/* The init container that creates the topics (idempotent) before a job's sources need them (Flink's JobManager,
the Spark driver). */}}
{{- define "ctr.topicsInitContainer" -}}
- name: topics
  image: {{ include "ctr.image" (dict "image" .Values.image.producer "root" .) }}
  imagePullPolicy: {{ .Values.image.producer.pullPolicy }}
  args: [setup, --no-db]
  env:
    {{- include "ctr.env" . | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    requests: {cpu: 50m, memory: 128Mi}
    limits: {memory: 256Mi}
  volumeMounts:
    {{- include "ctr.volumeMounts" . | nindent 4 }}
{{- end }}
