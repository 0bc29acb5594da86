{{/* The Spark driver's and executors' pod template (Spark merges its own settings into it): the run's configuration
and the database password for the driver, the shared checkpoint volume, and hardening. Call with (dict "root" $
"role" "driver") or "executor"; the container names are the ones Spark looks for in a template. */}}
{{- define "ctr.spark.podTemplate" -}}
{{- $root := .root -}}
{{- /* Labels: the operator gives both roles the SparkApplication's labels (component spark), and Spark adds
       spark-role: driver or executor. */ -}}
{{- if eq .role "driver" }}
metadata:
  annotations:
    {{- include "ctr.scrapeAnnotations" (dict "root" $root "port" $root.Values.spark.metricsPort) | nindent 4 }}
{{- end }}
spec:
  securityContext:
    runAsNonRoot: true
    runAsUser: 185
    runAsGroup: 185
    fsGroup: 185
    seccompProfile: {type: RuntimeDefault}
  {{- if eq .role "driver" }}
  # The job's sources need the topics; create them (idempotent) before the driver starts the queries.
  initContainers:
    {{- include "ctr.topicsInitContainer" $root | nindent 4 }}
  {{- end }}
  containers:
    - name: spark-kubernetes-{{ .role }}
      {{- if eq .role "driver" }}
      env:
        {{- include "ctr.env" $root | nindent 8 }}
      ports:
        - {name: metrics, containerPort: {{ $root.Values.spark.metricsPort }}}
      {{- end }}
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL]}
      volumeMounts:
        - {name: run-config, mountPath: /etc/ctrbench, readOnly: true}
        - {name: checkpoints, mountPath: /checkpoints}
  volumes:
    - name: run-config
      configMap:
        name: {{ include "ctr.componentName" (dict "root" $root "component" "config") }}
    - name: tmp
      emptyDir: {}
    - name: checkpoints
      persistentVolumeClaim:
        claimName: {{ include "ctr.componentName" (dict "root" $root "component" "spark-checkpoints") }}
{{- end }}

{{/* Selector of the Spark driver pod: the SparkApplication's labels, which the operator passes on, and Spark's own
spark-role label. */}}
{{- define "ctr.spark.driverSelector" -}}
{{ include "ctr.selectorLabels" (dict "root" . "component" "spark") }}
spark-role: driver
{{- end }}
