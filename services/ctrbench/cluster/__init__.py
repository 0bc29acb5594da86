"""Drive a release of the Helm chart from outside the cluster: start a run, follow it, fetch its report."""
