// Package report is the record of one probe run and its judgement: a
// [Report] says what became of every request and stream the probe sent,
// how and when the server's process ended, and [Report.Judge] turns that
// into a [Verdict], a function of the report alone. The report is then
// rendered three ways: [Report.WriteText] for people (String is the
// same), [Report.MarshalJSON] for machines, and [Report.WriteHTML] as a
// page with the timeline of the requests.
//
//	rep, err := probe.Run(ctx, cfg) // a *report.Report
//	if err != nil {
//		return err
//	}
//	rep.WriteText(os.Stdout, "")
//	if !rep.Verdict.Pass {
//		for _, f := range rep.Verdict.Reasons {
//			fmt.Println(f.Code, f.Text) // "lost", "3 requests lost on established connections"
//		}
//	}
//
// It does not run anything: package probe loads the server, classifies
// each request ([Outcome], [Reason]), counts them into [Counts], [Record]s
// and a [Timeline], fills the report and completes it ([Report.Complete]).
//
// # What a report holds
//
//   - The run: the server's command or the target, the [Load] as run,
//     the signal, and the times of the start, the signal, the last
//     response and the exit.
//   - What became of the requests of each [Kind] ([Counts]), those of
//     note one by one ([Record]), and all of them by when they ended
//     ([Timeline], buckets of [TimelineBucket]).
//   - The held connections and the streams, and when the server closed
//     them; the [Upgrade]s of an upgrade run.
//   - How far the probe kept up with its own schedule ([Report.KeptUp]).
//   - The [Verdict]: the [Finding]s that fail the shutdown, and the
//     warnings, each with a code (CodeLost, CodeKilled...) and advice.
//
// # JSON
//
// The JSON form's names and values are what drainprobe --json users read:
// [Report.MarshalJSON] documents them, and a golden test holds them byte
// for byte.
package report
