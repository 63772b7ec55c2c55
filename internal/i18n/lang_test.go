package i18n

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		flag    string
		env     map[string]string
		want    Lang
		wantErr string
	}{
		{name: "nothing set", want: English},
		{name: "flag ko", flag: "ko", want: Korean},
		{name: "flag upper case", flag: "KO", want: Korean},
		{name: "flag wins over env", flag: "en", env: map[string]string{EnvVar: "ko", "LANG": "ko_KR.UTF-8"}, want: English},
		{name: "env wins over locale", env: map[string]string{EnvVar: "ko", "LANG": "en_US.UTF-8"}, want: Korean},
		{name: "LANG korean", env: map[string]string{"LANG": "ko_KR.UTF-8"}, want: Korean},
		{name: "LANG bare code", env: map[string]string{"LANG": "ko"}, want: Korean},
		{name: "LC_ALL before LANG", env: map[string]string{"LC_ALL": "en_US.UTF-8", "LANG": "ko_KR.UTF-8"}, want: English},
		{name: "LC_MESSAGES before LANG", env: map[string]string{"LC_MESSAGES": "ko_KR.eucKR", "LANG": "en_GB.UTF-8"}, want: Korean},
		{name: "C passes on", env: map[string]string{"LC_ALL": "C", "LANG": "ko_KR.UTF-8"}, want: Korean},
		{name: "POSIX passes on", env: map[string]string{"LC_ALL": "POSIX", "LC_MESSAGES": "C.UTF-8", "LANG": "ko_KR"}, want: Korean},
		{name: "unknown locale passes on", env: map[string]string{"LC_ALL": "fr_FR.UTF-8", "LANG": "ko_KR.UTF-8"}, want: Korean},
		{name: "only unknown locales", env: map[string]string{"LANG": "de_DE.UTF-8"}, want: English},
		{name: "locale with modifier", env: map[string]string{"LANG": "ko@euro"}, want: Korean},
		{name: "unknown flag", flag: "fr", wantErr: `--lang: unknown language "fr": choose one of en, ko`},
		{name: "unknown env", env: map[string]string{EnvVar: "jp"}, wantErr: `IMAGELAB_LANG: unknown language "jp": choose one of en, ko`},
		{name: "blank flag is unset", flag: "  ", env: map[string]string{EnvVar: "ko"}, want: Korean},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.flag, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Resolve() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("Resolve() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExplicit(t *testing.T) {
	if _, ok, err := Explicit("", env(map[string]string{"LANG": "ko_KR.UTF-8"})); ok || err != nil {
		t.Errorf("Explicit with only a locale = ok %v, err %v; want not explicit", ok, err)
	}
	if l, ok, err := Explicit("", env(map[string]string{EnvVar: "ko"})); !ok || err != nil || l != Korean {
		t.Errorf("Explicit with IMAGELAB_LANG=ko = %q, %v, %v", l, ok, err)
	}
}

func TestLangs(t *testing.T) {
	langs := Langs()
	if len(langs) < 2 || langs[0] != English {
		t.Fatalf("Langs() = %v, want English first", langs)
	}
	seen := map[Lang]bool{}
	for _, l := range langs {
		if seen[l] {
			t.Errorf("Langs() lists %q twice", l)
		}
		seen[l] = true
		if got, err := Parse(strings.ToUpper(string(l))); err != nil || got != l {
			t.Errorf("Parse(%q) = %q, %v", l, got, err)
		}
		if l.Name() == "" {
			t.Errorf("%q has no name", l)
		}
	}
	if English.Next() != Korean || Korean.Next() != English {
		t.Errorf("Next does not cycle: en→%q ko→%q", English.Next(), Korean.Next())
	}
}
