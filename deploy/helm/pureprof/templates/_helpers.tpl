{{/* Name of the release's objects. */}}
{{- define "pureprof.fullname" -}}
{{ .Release.Name }}-pureprof
{{- end }}

{{/* Labels every object carries. */}}
{{- define "pureprof.labels" -}}
{{ include "pureprof.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: Helm
{{- end }}

{{/* Labels that select the agent's pods (immutable once installed). */}}
{{- define "pureprof.selectorLabels" -}}
app.kubernetes.io/name: pureprof
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The service account the agent runs as. */}}
{{- define "pureprof.serviceAccountName" -}}
{{- if .Values.serviceAccount.name -}}
{{ .Values.serviceAccount.name }}
{{- else -}}
{{- if .Values.serviceAccount.create -}}
{{ include "pureprof.fullname" . }}
{{- else -}}
default
{{- end -}}
{{- end -}}
{{- end }}

{{/* Exit 0 when the status file was rewritten within three intervals and 30 s. */}}
{{- define "pureprof.statusProbe" -}}
exec:
  command:
    - python
    - -S  # no site-packages: 30 ms instead of 200+
    - -c
    - "import os,sys,time;limit=3*float(os.environ.get('INTERVAL') or 10)+30;sys.exit(time.time()-os.stat(os.environ['STATUS_FILE']).st_mtime>limit)"
{{- end }}
