{{/* "true" when the release runs the CTR job on Flink (engine flink, flink.enabled), else empty. */}}
{{- define "ctr.flink.on" -}}
{{- if and (eq .Values.engine "flink") .Values.flink.enabled }}true{{ end }}
{{- end }}

{{/* Flink's configuration for either mode: the chart's settings, then flink.flinkConfiguration over them.
metrics.fetcher.update-interval: the live monitor reads the source's offsets through the REST API; Flink
refreshes what REST serves every 10 s by default, which would make the backlog up to 10 s of events stale. */}}
{{- define "ctr.flink.configuration" -}}
{{- $f := .Values.flink }}
{{- $conf := dict
  "taskmanager.numberOfTaskSlots" ($f.taskSlots | toString)
  "parallelism.default" ($f.parallelism | toString)
  "python.executable" "/opt/venv/bin/python"
  "python.client.executable" "/opt/venv/bin/python"
  "metrics.reporter.prom.factory.class" "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
  "metrics.reporter.prom.port" ($f.metricsPort | toString)
  "restart-strategy.type" "fixed-delay"
  "restart-strategy.fixed-delay.attempts" "1000000"
  "restart-strategy.fixed-delay.delay" "5 s"
  "metrics.fetcher.update-interval" "500"
}}
{{- if eq $f.mode "standalone" }}
{{- $_ := set $conf "jobmanager.rpc.address" (include "ctr.flink.jobManagerService" .) }}
{{- $_ := set $conf "jobmanager.memory.process.size" $f.jobManager.resource.memory }}
{{- $_ := set $conf "taskmanager.memory.process.size" $f.taskManager.resource.memory }}
{{- $_ := set $conf "taskmanager.rpc.port" "6122" }}
{{- /* Listen on the pod's addresses (Flink's own defaults are localhost; official images change them too). */}}
{{- $_ := set $conf "jobmanager.bind-host" "0.0.0.0" }}
{{- $_ := set $conf "taskmanager.bind-host" "0.0.0.0" }}
{{- $_ := set $conf "rest.bind-address" "0.0.0.0" }}
{{- $_ := set $conf "rest.address" (include "ctr.flink.jobManagerService" .) }}
{{- $_ := set $conf "blob.server.port" "6124" }}
{{- end }}
{{- toYaml (merge (deepCopy $f.flinkConfiguration) $conf) }}
{{- end }}

{{/* The same configuration as FLINK_PROPERTIES: "key: value" lines, unquoted, as the Flink image's
entrypoint reads them. */}}
{{- define "ctr.flink.properties" -}}
{{- $conf := include "ctr.flink.configuration" . | fromYaml }}
{{- range $i, $key := keys $conf | sortAlpha }}
{{- if $i }}{{ "\n" }}{{ end }}{{ $key }}: {{ index $conf $key }}
{{- end }}
{{- end }}

{{/* Service of the standalone JobManager (RPC, blob server, REST). */}}
{{- define "ctr.flink.jobManagerService" -}}
{{- printf "%s-jobmanager" (include "ctr.componentName" (dict "root" . "component" "flink")) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one Flink role (jobmanager or taskmanager); call with (dict "root" $ "role" "jobmanager"). */}}
{{- define "ctr.flink.selectorLabels" -}}
{{ include "ctr.selectorLabels" (dict "root" .root "component" "flink") }}
ctrbench.io/flink-role: {{ .role }}
{{- end }}

{{/* Prometheus scrape annotations for a pod serving /metrics on a port; call with (dict "root" $ "port" 9249). */}}
{{- define "ctr.scrapeAnnotations" -}}
{{- if .root.Values.monitoring.scrapeAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* Hardening of Flink's containers: the image's flink user (9999), no privileges. Not a read-only root:
the image's entrypoint writes FLINK_PROPERTIES into conf/ and Flink writes its logs under /opt/flink. */}}
{{- define "ctr.flink.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 9999
runAsGroup: 9999
fsGroup: 9999
seccompProfile: {type: RuntimeDefault}
{{- end }}

{{- define "ctr.flink.securityContext" -}}
allowPrivilegeEscalation: false
capabilities: {drop: [ALL]}
{{- end }}

{{/* Flink's REST API inside the cluster ("" without a Flink job): producers start the run once a job runs there. */}}
{{- define "ctr.flink.restUrl" -}}
{{- if and (include "ctr.flink.on" .) (eq .Values.flink.mode "standalone") }}
{{- printf "http://%s:8081" (include "ctr.flink.jobManagerService" .) }}
{{- else if include "ctr.flink.on" . }}
{{- printf "http://%s-rest:8081" (include "ctr.componentName" (dict "root" . "component" "flink")) }}
{{- end }}
{{- end }}
