package bpf

// The one generate step: compiles sensor.c for both byte orders and
// generates the Go types of every struct and enum shared with the kernel.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel,bpfeb -type event -type flow_key -type flow -type stream_verdict -type hs_verdict -type frag_key -type frag_state -type syn_pending -type counter_set -type tls_slot -type ev_class -type ev_flag -type csum_state -type csum_mode -type stream_state -type tls_state -type tls_flag -type flow_kind -type flow_flag -type hs_action -type frag_decision -type counter -type enf_entry -type enf_lpm4 -type enf_lpm6 -type flow_block -type enf_list_stats -type enf_event -type enf_mode -type enf_what -type enf_side -type enf_reset_how -type file_hold -type hold_state -type hold_req sensor sensor.c -- -I./include
//
// The flow table's size (count.c): its own object, so that sensor.c
// still loads on kernels without the kfunc it uses.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel,bpfeb flowcount count.c -- -I./include
