#!/usr/bin/perl
# A real ManageSieve client for the tests: Debian's Net::ManageSieve
# (libnet-managesieve-perl) over STARTTLS (libio-socket-ssl-perl). Prints one line per
# step for the test to check: uploads and activates a script, reads it back, and tries
# a broken one. Usage: net-managesieve.pl port user password good-file broken-file
use strict;
use warnings;
use Net::ManageSieve;

my ($port, $user, $pass, $goodfile, $brokenfile) = @ARGV;
sub slurp { my ($f) = @_; open(my $h, '<:raw', $f) or die "$f: $!"; local $/; my $t = <$h>; close $h; return $t; }
my $good = slurp($goodfile);
my $broken = slurp($brokenfile);

my $s = Net::ManageSieve->new('127.0.0.1', Port => $port, Timeout => 20) or die "connect failed: $@\n";
print 'before-tls starttls=', ($s->capabilities->{starttls} ? 1 : 0), "\n";
$s->starttls(SSL_verify_mode => 0) or die 'starttls: ' . $s->error . "\n";
print 'encrypted ', ($s->encrypted ? 1 : 0), "\n";
print 'sasl ', ($s->capabilities->{sasl} // ''), "\n";
$s->login($user, $pass) or die 'login: ' . $s->error . "\n";
print "login ok\n";
$s->havespace('filters', length($good)) or die 'havespace: ' . $s->error . "\n";
$s->putscript('filters', $good) or die 'putscript: ' . $s->error . "\n";
$s->setactive('filters') or die 'setactive: ' . $s->error . "\n";
my $list = $s->listscripts or die 'listscripts: ' . $s->error . "\n";
my $active = pop @$list;
print 'scripts ', join(',', @$list), " active=$active\n";
my $got = $s->getscript('filters');
# Net::ManageSieve ends what it returns with one "\n" in place of the trailing white space.
(my $want = $good) =~ s/\s+\z//;
$got =~ s/\s+\z// if defined $got;
print 'readback ', (defined $got && $got eq $want ? 'same' : 'differs'), "\n";
if ($s->putscript('broken', $broken)) {
  print "broken accepted\n";
} else {
  my $e = $s->error;
  $e =~ s/\s+$//;
  print "broken refused: $e\n";
}
$s->logout;
print "done\n";
