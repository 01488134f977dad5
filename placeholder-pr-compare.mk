# TEMPORARY placeholder until branch pr-compare lands `make pr-report` / `make gate`. Delete on merge.
BASE ?= main
pr-report: .venv/.synced ## (placeholder) write reports/pr/report.md
	mkdir -p $(PR_REPORT_DIR)
	{ echo "## PR experiment (placeholder report)"; echo; $(RUN) dvc metrics diff $(BASE) --md; echo; \
	  $(RUN) dvc params diff $(BASE) --md; echo; echo '![ROC](roc.png)'; } > $(PR_REPORT)
	cp plots/roc.png $(PR_REPORT_DIR)/roc.png
gate: .venv/.synced ## (placeholder) fail when accuracy < 0.9
	$(RUN) python -c "import json,sys; a=json.load(open('metrics/metrics.json'))['accuracy']; print('accuracy', a); sys.exit(a < 0.9)"
