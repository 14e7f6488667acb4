module github.com/edgesensor/edgesensor/scripts/libeval

go 1.26.8

require (
	github.com/edgesensor/edgesensor v0.0.0
	github.com/richardlehane/mscfb v1.0.9
	github.com/saferwall/pe v1.6.5
)

require (
	github.com/ayoubfaouzi/pkcs7 v0.2.3 // indirect
	github.com/edsrzf/mmap-go v1.1.0 // indirect
	github.com/gabriel-vasile/mimetype v1.4.16 // indirect
	github.com/google/gopacket v1.1.19 // indirect
	github.com/richardlehane/msoleps v1.0.3 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
)

replace github.com/edgesensor/edgesensor => ../..
