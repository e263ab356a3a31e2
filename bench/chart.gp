# SPDX-License-Identifier: GPL-2.0
# Bar chart of bench/report.sh's figures: each device's throughput relative
# to loop's on the same workload (loop = 1). Set datafile, outfile, subtitle.
set terminal pngcairo size 1400,720 font "DejaVu Sans,11"
set output outfile
set title "Throughput relative to loop over a raw file (higher is better)\n{/*0.8 ".subtitle."}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set grid ytics
set yrange [0:*]
set ylabel "x loop"
set xtics rotate by -40 left scale 0 font ",10"
set bmargin 9
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 1 lc rgb "#333333" front
set arrow from graph 0, first 0.9 to graph 1, first 0.9 nohead lw 1 dt 2 lc rgb "#333333" front
set label "loop" at graph 1, first 1 offset 0.5,0 left
set label "0.9" at graph 1, first 0.9 offset 0.5,-0.5 left
set rmargin 12
plot datafile using 2:xtic(1) title "/dev/qcow2N" lc rgb "#1f77b4", \
     '' using 3 title "qemu-nbd" lc rgb "#d62728"
